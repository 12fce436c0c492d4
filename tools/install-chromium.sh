#!/usr/bin/env bash
# Make sure a headless browser exists for the report test (tests/integration/report):
# Debian's chromium package, the version of the Debian release in use (its security
# updates replace older builds in the archive, so no exact version can stay installable).
set -euo pipefail
if command -v chromium >/dev/null; then
  echo "install-chromium: $(chromium --version 2>/dev/null | head -1)"
  exit 0
fi
if [[ "$(id -u)" -ne 0 ]] || ! command -v apt-get >/dev/null; then
  echo "install-chromium: chromium not found. Install it (Debian/Ubuntu: sudo apt-get install chromium)" >&2
  exit 2
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium >/dev/null
echo "install-chromium: installed $(chromium --version 2>/dev/null | head -1)"
