#!/usr/bin/env bash
# Print Argo CD's manifests exactly as bootstrap installs them: clusters/kind/argocd built
# against Argo CD's upstream install manifest, downloaded from the pinned URL and checked
# against the pinned sha256 (both in clusters/kind/argocd/UPSTREAM). Fails, naming the URL,
# when the download fails or the checksum differs. Used by up.sh; prints progress on stderr.
#
# ARGOCD_MANIFEST_FILE=<path> takes the manifest from a local file instead of the URL (the
# tests' control-plane tier passes the copy Argo CD's Go module ships); the sha256 check is
# the same.
#
# Needs curl, sha256sum (or shasum) and a kustomize: $KUSTOMIZE if set, else the pinned one
# `make manifest-tools` installs (.cache/bin/kustomize, the version Argo CD bundles), else
# kubectl's built-in `kubectl kustomize`.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ARGOCD_DIR="$ROOT/clusters/kind/argocd"
pin() { sed -n "s/^$1=//p" "$ARGOCD_DIR/UPSTREAM" | head -n 1; }
version="$(pin VERSION)"
url="$(pin URL)"
want="$(pin SHA256)"
[[ -n "$version" && -n "$url" && "$want" =~ ^[0-9a-f]{64}$ ]] \
  || die "clusters/kind/argocd/UPSTREAM must set VERSION, URL and SHA256 (64 lowercase hex digits)"
grep -qxF -- "  - $url" "$ARGOCD_DIR/kustomization.yaml" \
  || die "clusters/kind/argocd/kustomization.yaml does not list $url (the URL in UPSTREAM) under resources; change both together"

need curl "Install curl (bootstrap downloads Argo CD's install manifest with it)."
sha256() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1"; else shasum -a 256 "$1"; fi | cut -d ' ' -f 1
}

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir "$work/argocd"
if [[ -n "${ARGOCD_MANIFEST_FILE:-}" ]]; then
  printf '==> Argo CD %s install manifest from %s\n' "$version" "$ARGOCD_MANIFEST_FILE" >&2
  cp "$ARGOCD_MANIFEST_FILE" "$work/argocd/upstream-install.yaml" || die "cannot read ARGOCD_MANIFEST_FILE=$ARGOCD_MANIFEST_FILE"
else
  printf '==> downloading Argo CD %s install manifest: %s\n' "$version" "$url" >&2
  curl -fsSL --retry 3 --connect-timeout 20 --max-time 300 -o "$work/argocd/upstream-install.yaml" "$url" \
    || die "cannot download $url (no network? a proxy? moved?). Argo CD's install manifest is not kept in git; bootstrap needs this download."
fi
got="$(sha256 "$work/argocd/upstream-install.yaml")"
[[ "$got" == "$want" ]] \
  || die "sha256 of $url is $got, expected $want (clusters/kind/argocd/UPSTREAM). Refusing to install it."
printf '==> sha256 verified (%s)\n' "$want" >&2

# The folder Argo CD syncs later, with the remote resource pointed at the verified copy.
cp "$ARGOCD_DIR"/*.yaml "$work/argocd/"
awk -v remote="  - $url" '
  $0 == remote { print "  - ./upstream-install.yaml"; n++; next }
  { print }
  END { exit (n == 1 ? 0 : 1) }' "$ARGOCD_DIR/kustomization.yaml" >"$work/argocd/kustomization.yaml" \
  || die "expected $url exactly once under resources in clusters/kind/argocd/kustomization.yaml"
KUSTOMIZE="${KUSTOMIZE:-}"
[[ -z "$KUSTOMIZE" && -x "$ROOT/.cache/bin/kustomize" ]] && KUSTOMIZE="$ROOT/.cache/bin/kustomize"
if [[ -n "$KUSTOMIZE" ]]; then
  "$KUSTOMIZE" build "$work/argocd" || die "kustomize could not build clusters/kind/argocd against $url"
else
  need kubectl "Install kubectl 1.35+ (https://kubernetes.io/docs/tasks/tools/)."
  kubectl kustomize "$work/argocd" || die "kubectl kustomize could not build clusters/kind/argocd against $url"
fi
