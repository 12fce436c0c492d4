#!/usr/bin/env bash
# make status: sync and health of every Argo CD Application, in sync-wave order.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need kubectl "Install kubectl (https://kubernetes.io/docs/tasks/tools/)."
require_cluster
kc -n argocd get applications.argoproj.io \
  --sort-by '{.metadata.annotations.argocd\.argoproj\.io/sync-wave}' \
  -o custom-columns='APPLICATION:.metadata.name,WAVE:.metadata.annotations.argocd\.argoproj\.io/sync-wave,SYNC:.status.sync.status,HEALTH:.status.health.status,REVISION:.status.sync.revision,MESSAGE:.status.conditions[0].message'
