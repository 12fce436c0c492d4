#!/usr/bin/env bash
# Build the pinned MinIO server from its Go module into .cache/bin/minio (tests and
# `make run` start it on 127.0.0.1). MinIO's upstream repository is archived; this
# pseudo-version is its last commit. No-op when the pinned build is already there.
set -euo pipefail
MINIO_MODULE_VERSION="v0.0.0-20260212201848-7aac2a2c5b7c"
repo_root="$(cd "$(dirname "$0")/.." && pwd)"
bin_dir="$repo_root/.cache/bin"
stamp="$bin_dir/.minio-$MINIO_MODULE_VERSION"
if [[ -x "$bin_dir/minio" && -f "$stamp" ]]; then
  echo "install-minio: MinIO $MINIO_MODULE_VERSION already built"
  exit 0
fi
command -v go >/dev/null || { echo "install-minio: Go is required to build MinIO (apt-get install golang-go)" >&2; exit 2; }
mkdir -p "$bin_dir"
echo "install-minio: building github.com/minio/minio@$MINIO_MODULE_VERSION (a few minutes on 2 cores)..."
GOBIN="$bin_dir" GOFLAGS=-trimpath go install "github.com/minio/minio@$MINIO_MODULE_VERSION"
rm -f "$bin_dir"/.minio-* && touch "$stamp"
"$bin_dir/minio" --version | head -1
