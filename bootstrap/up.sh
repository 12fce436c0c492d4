#!/usr/bin/env bash
# make up: create the kind cluster, install the pinned Argo CD, generate the
# credentials once, and apply the ONE root Application. Safe to run again:
# every step converges and nothing that exists is regenerated.
#
# Environment overrides (all optional):
#   REPO_URL       repository Argo CD follows   (default: git remote origin)
#   REPO_REVISION  branch/tag/commit it follows (default: current branch)
#   OVERLAY        overlays/<OVERLAY>/<service> (default: kind; the e2e run uses ci)
#   CLUSTER_NAME   kind cluster name            (default: data-stack)
#   CLUSTER_PROVIDER  kind (default) or current: use kubectl's current context as it is
#                  and skip the image step (the tests' control-plane tier does this)
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# ---------------------------------------------------------------- prerequisites
log "checking prerequisites"
need kubectl "Install kubectl 1.35+ (https://kubernetes.io/docs/tasks/tools/)."
need python3 "Install Python 3 (used to generate the credentials)."
need git "Install git (the repository URL is read from the git remote)."
need curl "Install curl (Argo CD's install manifest is downloaded at bootstrap)."
if [[ "$CLUSTER_PROVIDER" == kind ]]; then
  need docker "Install Docker (https://docs.docker.com/get-docker/)."
  need kind "Install kind 0.32+ (https://kind.sigs.k8s.io/docs/user/quick-start/#installation)."
  docker info >/dev/null 2>&1 || die "Docker is installed but not running (\`docker info\` fails). Start Docker and retry."
fi

# -------------------------------------------------------------- repository URL
to_https() { # git@host:owner/repo.git -> https://host/owner/repo.git (Argo CD reads public repos anonymously)
  case "$1" in
    git@*:*) local rest="${1#git@}"; printf 'https://%s/%s\n' "${rest%%:*}" "${rest#*:}" ;;
    ssh://git@*) local rest="${1#ssh://git@}"; printf 'https://%s\n' "$rest" ;;
    *) printf '%s\n' "$1" ;;
  esac
}
if [[ -z "${REPO_URL:-}" ]]; then
  REPO_URL="$(git -C "$ROOT" remote get-url origin 2>/dev/null || true)"
  [[ -n "$REPO_URL" ]] && REPO_URL="$(to_https "$REPO_URL")"
  REPO_URL="${REPO_URL:-$(repository_default url)}"
fi
if [[ -z "${REPO_REVISION:-}" ]]; then
  REPO_REVISION="$(git -C "$ROOT" symbolic-ref --quiet --short HEAD 2>/dev/null || true)"
  REPO_REVISION="${REPO_REVISION:-$(repository_default revision)}"
fi
OVERLAY="${OVERLAY:-$(repository_default overlay)}"
[[ -d "$ROOT/overlays/$OVERLAY" ]] || die "OVERLAY=$OVERLAY: no folder overlays/$OVERLAY"
log "Argo CD will follow $REPO_URL at '$REPO_REVISION' (overlays/$OVERLAY)"

# ------------------------------------------------------- Argo CD manifest (download)
# Before the cluster, so a missing network or a checksum mismatch fails fast: Argo CD's
# pinned upstream install manifest (clusters/kind/argocd/UPSTREAM) is downloaded, its
# sha256 checked, and clusters/kind/argocd built against that verified copy.
ARGOCD_MANIFEST="$(mktemp)"
trap 'rm -f "$ARGOCD_MANIFEST"' EXIT
"$ROOT/bootstrap/argocd-manifest.sh" >"$ARGOCD_MANIFEST"

# ----------------------------------------------------------------------- cluster
if [[ "$CLUSTER_PROVIDER" == current ]]; then
  cluster_exists || die "CLUSTER_PROVIDER=current: kubectl's current context ('$KUBE_CONTEXT') answers no cluster-info"
  log "using the cluster of context '$KUBE_CONTEXT' as it is"
elif cluster_exists; then
  log "kind cluster '$CLUSTER_NAME' exists"
else
  log "creating kind cluster '$CLUSTER_NAME' (kind-config.yaml)"
  kind create cluster --name "$CLUSTER_NAME" --config "$ROOT/kind-config.yaml" --wait 180s
fi
kc cluster-info >/dev/null || die "cannot reach the cluster with context $KUBE_CONTEXT"

# ------------------------------------------------------------------------ images
# The job and Jupyter images, built from this checkout with the names and tag the overlays
# render, and loaded into the kind nodes: the pods start without pulling from a registry,
# so a fork works before its CI has pushed anything. (kind only: on CLUSTER_PROVIDER=current
# the images must already be where the cluster pulls from.)
if [[ "$CLUSTER_PROVIDER" == kind ]]; then
  log "building the job and Jupyter images and loading them into kind (make images)"
  KIND_LOAD=true "$ROOT/tools/build-images.sh"
fi

# ------------------------------------------------------------------ credentials
# Before Argo CD: the namespaces and Secrets must exist when the pods start.
log "credentials (bootstrap/secrets.yaml; existing Secrets are kept)"
python3 "$ROOT/bootstrap/credentials.py" ensure

# ---------------------------------------------------------------------- Argo CD
log "installing Argo CD (clusters/kind/argocd on the verified upstream manifest, server-side apply)"
# Server-side: the CRDs are larger than client-side apply's annotation limit. From now on the
# `argocd` Application syncs the same folder from git (remote resource and all).
kc apply --server-side --force-conflicts -f "$ARGOCD_MANIFEST" >/dev/null
kc wait --for condition=Established --timeout=120s \
  crd/applications.argoproj.io crd/appprojects.argoproj.io >/dev/null
log "waiting for Argo CD to become ready"
kc -n argocd rollout status deployment/argocd-server --timeout=300s >/dev/null
kc -n argocd rollout status deployment/argocd-repo-server --timeout=300s >/dev/null
kc -n argocd rollout status statefulset/argocd-application-controller --timeout=300s >/dev/null

# ------------------------------------------------------------------ root app
log "applying the root Application (clusters/kind/root)"
render_root() { # substitute ${REPO_URL} ${REPO_REVISION} ${OVERLAY} in a template
  # shellcheck disable=SC2016  # the ${...} are literal placeholders for Python
  REPO_URL="$REPO_URL" REPO_REVISION="$REPO_REVISION" OVERLAY="$OVERLAY" python3 -c '
import os, sys
text = open(sys.argv[1]).read()
for k in ("REPO_URL", "REPO_REVISION", "OVERLAY"):
    text = text.replace("${" + k + "}", os.environ[k])
sys.stdout.write(text)' "$1"
}
render_root "$ROOT/clusters/kind/root/appproject.yaml" | kc apply -f - >/dev/null
render_root "$ROOT/clusters/kind/root/application.yaml" | kc apply -f - >/dev/null

if ! git -C "$ROOT" diff --quiet HEAD -- 2>/dev/null; then
  echo "note: the working tree has uncommitted changes; Argo CD only sees what is pushed to $REPO_URL."
fi

# ---------------------------------------------------------------------- summary
secret() { # <ns> <name> <key>
  kc -n "$1" get secret "$2" -o "go-template={{index .data \"$3\" | base64decode}}" 2>/dev/null || echo "(not yet created)"
}
cat <<TXT

The cluster is up. Argo CD now syncs everything else in sync-wave order
(namespaces -> minio, postgres -> airflow -> medallion -> metabase, jupyter);
watch it with \`make status\` or in the Argo CD UI. First sync takes several minutes.

  Argo CD        https://localhost:30443   user admin / $(secret argocd argocd-initial-admin-secret password)
                 (self-signed certificate: accept it in the browser)
  Airflow        http://localhost:30080    user $(secret airflow airflow-admin username) / $(secret airflow airflow-admin password)
  MinIO console  http://localhost:30901    user $(secret storage minio-root MINIO_ROOT_USER) / $(secret storage minio-root MINIO_ROOT_PASSWORD)
  Metabase       http://localhost:30300    user $(secret metabase metabase-admin email) / $(secret metabase metabase-admin password)
  JupyterLab     http://localhost:30888/lab?token=$(secret jupyter jupyter-token token)

All generated credentials: \`make creds\`. Delete everything: \`make down\`.
TXT
