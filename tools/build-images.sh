#!/usr/bin/env bash
# Build every image locally with the names and the tag the overlays deploy, then load
# them into the kind cluster of kind-config.yaml when that cluster is running.
# `make images` runs this; the e2e workflow does too, so CI tests what a laptop builds.
#
#   tools/build-images.sh                       base, ingestor, transformer, aggregator, jupyter
#   IMAGES="ingestor jupyter" tools/build-images.sh   a subset (base is always built first)
#   TAG=dev tools/build-images.sh               another tag (default: the overlays' tag)
#   KIND_LOAD=false tools/build-images.sh       build only
#   BUILDER=<name> tools/build-images.sh        a buildx builder with the docker driver
#                                               (job images start FROM the local base image)
#
# The tag is read from the overlays (tools/image_tags.py current), never written here.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The names come from the overlays too (a fork's CI may point them at its own registry):
# the Jupyter image's newName (else name) in overlays/kind/jupyter, less "/jupyter".
PREFIX="${IMAGE_PREFIX:-$(awk '/^images:/ {i=1} i && /(newName|name): .*\/jupyter$/ {p=$NF} END {sub(/\/jupyter$/, "", p); print p}' overlays/kind/jupyter/kustomization.yaml)}"
ALL_IMAGES=(ingestor transformer aggregator jupyter)
# the project venv has PyYAML, which tools/image_tags.py reads the overlays with
PYTHON="${PYTHON:-$([[ -x .venv/bin/python ]] && echo .venv/bin/python || echo python3)}"
KIND_LOAD="${KIND_LOAD:-true}"

say() { printf 'build-images: %s\n' "$*"; }
die() { printf 'build-images: ERROR: %s\n' "$1" >&2; exit "${2:-1}"; }

[[ -n "$PREFIX" ]] || die "no jupyter image under images: in overlays/kind/jupyter/kustomization.yaml"
command -v docker >/dev/null 2>&1 \
  || die "the docker CLI is not installed: https://docs.docker.com/engine/install/" 2
docker info >/dev/null 2>&1 \
  || die "no Docker engine answers (docker info failed): start Docker, or check DOCKER_HOST" 2

tag="${TAG:-$("$PYTHON" tools/image_tags.py current)}" \
  || die "could not read the image tag from the overlays (tools/image_tags.py current)"
read -r -a images <<<"${IMAGES:-${ALL_IMAGES[*]}}"
for image in "${images[@]}"; do
  [[ " ${ALL_IMAGES[*]} base " == *" $image "* ]] || die "unknown image '$image' (one of: base ${ALL_IMAGES[*]})" 2
done

revision="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
if ! git diff --quiet HEAD 2>/dev/null; then revision="${revision}-dirty"; fi
source_url="$(git remote get-url origin 2>/dev/null || true)"
# fallback: the one place the repository URL is written
source_url="${source_url:-$(sed -n "s/^  url: //p" clusters/kind/repository.yaml)}"

# BuildKit is required (RUN --mount). `docker buildx build --load` puts the result in the
# local image store, where the next image's FROM finds it.
build=(docker buildx build --load)
docker buildx version >/dev/null 2>&1 || build=(env DOCKER_BUILDKIT=1 docker build)
if [[ -n "${BUILDER:-}" ]]; then build+=(--builder "$BUILDER"); fi

build_one() {  # name, extra args...
  local name="$1"; shift
  say "building $PREFIX/$name:$tag"
  "${build[@]}" \
    --file "apps/docker/$name.Dockerfile" \
    --tag "$PREFIX/$name:$tag" \
    --build-arg "VERSION=$tag" \
    --build-arg "REVISION=$revision" \
    --build-arg "SOURCE=$source_url" \
    "$@" .
}

started=$(date +%s)
build_one base
built=()
for image in "${images[@]}"; do
  [[ "$image" == base ]] && continue
  build_one "$image" --build-arg "BASE_IMAGE=$PREFIX/base:$tag"
  built+=("$PREFIX/$image:$tag")
done
say "built in $(( $(date +%s) - started ))s:"
docker image ls --format '  {{.Repository}}:{{.Tag}}  {{.Size}}' "$PREFIX/*" | grep ":$tag " || true

# --- kind ---------------------------------------------------------------------------
if [[ "$KIND_LOAD" != true ]]; then
  say "KIND_LOAD=$KIND_LOAD: not loading into kind"; exit 0
fi
if [[ ! -f kind-config.yaml ]]; then
  say "no kind-config.yaml: nothing to load"; exit 0
fi
cluster="$(sed -n 's/^name:[[:space:]]*\([A-Za-z0-9_.-]*\).*/\1/p' kind-config.yaml | head -n1)"
[[ -n "$cluster" ]] || die "kind-config.yaml has no top-level name:"
if ! command -v kind >/dev/null 2>&1; then
  say "kind is not installed (go install sigs.k8s.io/kind@v0.33.0): images built, not loaded"
  exit 0
fi
if ! kind get clusters 2>/dev/null | grep -qx "$cluster"; then
  say "kind cluster '$cluster' is not running (make up creates it): images built, not loaded"
  exit 0
fi
if ((${#built[@]})); then
  # One call: kind saves the images into one archive, so shared base layers go once.
  say "loading ${#built[@]} images into kind cluster '$cluster'"
  kind load docker-image --name "$cluster" "${built[@]}"
fi
say "done: pods at tag $tag run these images unless their imagePullPolicy is Always"
