#!/usr/bin/env bash
# Shared settings and helpers for the bootstrap scripts (sourced, not run).

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CLUSTER_NAME="${CLUSTER_NAME:-data-stack}"
KUBE_CONTEXT="kind-${CLUSTER_NAME}"
export KUBE_CONTEXT

log() { printf '==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# need <command> <how to get it>
need() {
  command -v "$1" >/dev/null 2>&1 || die "'$1' is not installed. $2"
}

kc() { kubectl --context "$KUBE_CONTEXT" "$@"; }

cluster_exists() {
  kind get clusters 2>/dev/null | grep -qx "$CLUSTER_NAME"
}

require_cluster() {
  cluster_exists || die "kind cluster '$CLUSTER_NAME' does not exist: run \`make up\` first."
}

# The one place in git that holds the defaults: clusters/kind/repository.yaml.
repository_default() { # <key>
  sed -n "s/^  $1: *//p" "$ROOT/clusters/kind/repository.yaml" | head -n 1
}
