#!/usr/bin/env bash
# make down: delete the kind cluster, and with it every volume and credential.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need kind "Install kind (https://kind.sigs.k8s.io/docs/user/quick-start/#installation)."
if cluster_exists; then
  log "deleting kind cluster '$CLUSTER_NAME'"
  kind delete cluster --name "$CLUSTER_NAME"
else
  log "kind cluster '$CLUSTER_NAME' does not exist; nothing to do"
fi
