#!/usr/bin/env bash
# Shared settings and helpers for the bootstrap scripts (sourced, not run).

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CLUSTER_NAME="${CLUSTER_NAME:-data-stack}"
# CLUSTER_PROVIDER=kind (default): make up creates the kind cluster of kind-config.yaml.
# CLUSTER_PROVIDER=current: use the cluster of kubectl's current context as it is (the
# control-plane tier of the tests runs the same bootstrap this way; nothing else differs).
CLUSTER_PROVIDER="${CLUSTER_PROVIDER:-kind}"
case "$CLUSTER_PROVIDER" in
  kind) KUBE_CONTEXT="kind-${CLUSTER_NAME}" ;;
  current) KUBE_CONTEXT="$(kubectl config current-context 2>/dev/null || true)" ;;
  *) printf 'error: CLUSTER_PROVIDER=%s: expected kind or current\n' "$CLUSTER_PROVIDER" >&2; exit 1 ;;
esac
export KUBE_CONTEXT CLUSTER_PROVIDER

log() { printf '==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# need <command> <how to get it>
need() {
  command -v "$1" >/dev/null 2>&1 || die "'$1' is not installed. $2"
}

kc() { kubectl --context "$KUBE_CONTEXT" "$@"; }

cluster_exists() {
  if [[ "$CLUSTER_PROVIDER" == current ]]; then
    [[ -n "$KUBE_CONTEXT" ]] && kc cluster-info >/dev/null 2>&1
  else
    kind get clusters 2>/dev/null | grep -qx "$CLUSTER_NAME"
  fi
}

require_cluster() {
  cluster_exists || die "kind cluster '$CLUSTER_NAME' does not exist: run \`make up\` first."
}

# The one place in git that holds the defaults: clusters/kind/repository.yaml.
repository_default() { # <key>
  sed -n "s/^  $1: *//p" "$ROOT/clusters/kind/repository.yaml" | head -n 1
}
