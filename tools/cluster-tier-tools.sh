#!/usr/bin/env bash
# Builds the control-plane tier's servers from their Go modules (make cluster-tools):
#
#   Kubernetes  kube-apiserver, kube-controller-manager, kube-scheduler, kubectl
#   etcd        the etcd server
#   kwok        kwok (fake nodes and pod lifecycle) and kwokctl
#   Argo CD     one `argocd` binary (application-controller, repo-server, ... by
#               ARGOCD_BINARY_NAME, the way the upstream image runs it)
#   redis       Debian's redis-server, which Argo CD's controller and repo-server need
#
# Binaries are cached by version outside the clone ($DATA_STACK_CACHE, default
# ~/.cache/data-stack-k8s), so a warm machine or a fresh clone on it rebuilds nothing.
# A cold build takes about 35 minutes on 2 cores. Prints the bin folder on success.
#
# Why the builds are not plain `go install`: Kubernetes and etcd point their sibling
# modules at relative paths (`=> ./staging/...`, `=> ../api`), which a module zip does
# not carry; Argo CD points its gitops-engine at `./gitops-engine`. Each is built in a
# writable copy of its module with those replaces aimed at the published modules of
# the same release.
set -euo pipefail

KUBERNETES_VERSION=v1.36.3   # kindest/node is v1.36.4, which is not served as a Go module
ETCD_VERSION=v3.6.16
KWOK_VERSION=v0.8.0
ARGOCD_VERSION=v3.6.2        # = clusters/kind/argocd/UPSTREAM VERSION (checked by tests/ci)
ARGOCD_GO=go1.27.3           # Argo CD 3.6's go.mod asks for Go 1.27

CACHE="${DATA_STACK_CACHE:-$HOME/.cache/data-stack-k8s}"
BIN="$CACHE/cluster-tier/bin"
say() { printf 'cluster-tools: %s\n' "$*" >&2; }
die() { printf 'cluster-tools: ERROR: %s\n' "$*" >&2; exit 1; }
command -v go >/dev/null || die "Go is required (apt-get install golang-go, or the machine's Go 1.26)"
mkdir -p "$BIN"
# -mod=mod: the copies get new requirements (the published sibling modules), and
# Kubernetes ships a vendor folder that no longer matches its edited go.mod.
export GOFLAGS="-trimpath -mod=mod" GOWORK=off

built() { [[ -f "$BIN/.$1-$2" ]]; }
stamp() { rm -f "$BIN/.$1-"* && touch "$BIN/.$1-$2"; }

# A writable copy of a module at a version, in $work; echoes the copy's path.
module_copy() {  # module version [GOTOOLCHAIN]
  local dir
  dir="$(GOTOOLCHAIN="${3:-local}" go mod download -json "$1@$2" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
  [[ -d "$dir" ]] || die "go mod download $1@$2 failed (is the Go module proxy reachable? GOPROXY=$(go env GOPROXY))"
  local copy="$work/${1//\//_}"
  rm -rf "$copy" && cp -r "$dir" "$copy" && chmod -R u+w "$copy" && rm -rf "$copy/vendor"
  echo "$copy"
}

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# The compiled packages of these builds take about 7 GB and serve only a rebuild at
# another version: they go in a build cache of their own, removed with $work, so the
# disk the tests (and MinIO's 1% free-space rule) need is not eaten by a speed cache.
export GOCACHE="$work/go-build"

if ! built kubernetes "$KUBERNETES_VERSION"; then
  say "building Kubernetes $KUBERNETES_VERSION control plane and kubectl (about 15 minutes on 2 cores)"
  src="$(module_copy k8s.io/kubernetes "$KUBERNETES_VERSION")"
  staging="v0.${KUBERNETES_VERSION#v1.}"
  sed -i -E "s#^(\s+k8s\.io/[a-z-]+) => \./staging/src/k8s\.io/[a-z-]+\$#\1 => \1 $staging#" "$src/go.mod"
  ! grep -q '=> ./staging' "$src/go.mod" || die "a staging replace in k8s.io/kubernetes go.mod was not rewritten"
  minor="${KUBERNETES_VERSION#v1.}"; minor="${minor%%.*}"
  ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  (cd "$src" && go mod download && go build -ldflags "$ldflags" -o "$BIN/" \
      ./cmd/kube-apiserver ./cmd/kube-controller-manager ./cmd/kube-scheduler ./cmd/kubectl) \
    || die "building k8s.io/kubernetes@$KUBERNETES_VERSION failed"
  stamp kubernetes "$KUBERNETES_VERSION"
fi

if ! built etcd "$ETCD_VERSION"; then
  say "building etcd $ETCD_VERSION"
  src="$(module_copy go.etcd.io/etcd/server/v3 "$ETCD_VERSION")"
  sed -i -E "s#^(\s+go\.etcd\.io/etcd/[a-z/]+/v3) => \.\./[a-z0-9/]+\$#\1 => \1 $ETCD_VERSION#" "$src/go.mod"
  ! grep -qE '=> \.\./' "$src/go.mod" || die "a relative replace in etcd's server go.mod was not rewritten"
  (cd "$src" && go mod download && go build -ldflags "-s -w" -o "$BIN/etcd" .) \
    || die "building go.etcd.io/etcd/server/v3@$ETCD_VERSION failed"
  stamp etcd "$ETCD_VERSION"
fi

if ! built kwok "$KWOK_VERSION"; then
  say "building kwok $KWOK_VERSION"
  GOBIN="$BIN" go install -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" "sigs.k8s.io/kwok/cmd/kwokctl@$KWOK_VERSION" \
    || die "go install sigs.k8s.io/kwok@$KWOK_VERSION failed"
  stamp kwok "$KWOK_VERSION"
fi

if ! built argocd "$ARGOCD_VERSION"; then
  say "building Argo CD $ARGOCD_VERSION with $ARGOCD_GO (about 11 minutes on 2 cores)"
  export GOTOOLCHAIN="$ARGOCD_GO"
  src="$(module_copy github.com/argoproj/argo-cd/v3 "$ARGOCD_VERSION" "$ARGOCD_GO")"
  sed -i -E "s#^replace (github\.com/argoproj/argo-cd/gitops-engine/v3) => \./gitops-engine\$#replace \1 => \1 $ARGOCD_VERSION#" "$src/go.mod"
  ! grep -q '=> ./gitops-engine' "$src/go.mod" || die "the gitops-engine replace in argo-cd's go.mod was not rewritten"
  # The UI is not needed by the controller or the repo-server; the embed needs a file.
  mkdir -p "$src/ui/dist/app/assets/images/resources" && touch "$src/ui/dist/app/index.html" "$src/ui/dist/app/assets/images/resources/.keep"
  pkg=github.com/argoproj/argo-cd/v3/common
  (cd "$src" && go mod download && go build -ldflags "-s -w -X $pkg.version=${ARGOCD_VERSION#v} -X $pkg.gitTreeState=clean" \
      -o "$BIN/argocd" ./cmd) \
    || die "building github.com/argoproj/argo-cd/v3@$ARGOCD_VERSION failed"
  # The repo-server runs git through this wrapper (as the upstream image does).
  install -m 0755 "$src/hack/git-verify-wrapper.sh" "$BIN/git-verify-wrapper.sh"
  unset GOTOOLCHAIN
  stamp argocd "$ARGOCD_VERSION"
fi

if ! command -v redis-server >/dev/null; then
  say "installing Debian's redis-server (Argo CD's cache)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null; } \
    || die "apt-get install redis-server failed"
fi

say "ok: kubernetes $KUBERNETES_VERSION, etcd $ETCD_VERSION, kwok $KWOK_VERSION, argocd $ARGOCD_VERSION in $BIN"
echo "$BIN"
