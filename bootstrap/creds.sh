#!/usr/bin/env bash
# make creds: print every credential bootstrap/ generated, and Argo CD's admin password.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need kubectl "Install kubectl (https://kubernetes.io/docs/tasks/tools/)."
need python3 "Install Python 3."
require_cluster
printf 'argocd/argocd-initial-admin-secret  (Argo CD UI, https://localhost:30443)\n    username = admin\n    password = %s\n' \
  "$(kc -n argocd get secret argocd-initial-admin-secret -o 'go-template={{.data.password | base64decode}}' 2>/dev/null \
     || echo '(not created yet, or deleted after the first login)')"
python3 "$ROOT/bootstrap/credentials.py" print
