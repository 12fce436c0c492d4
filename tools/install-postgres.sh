#!/usr/bin/env bash
# Make sure PostgreSQL server binaries exist (Debian's postgresql package). Tests and
# `make run` start a throwaway server on 127.0.0.1 with tools/servers.py.
set -euo pipefail
if ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || [[ -n "${PG_BINDIR:-}" ]]; then
  echo "install-postgres: $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | tail -1 || echo "$PG_BINDIR")"
  exit 0
fi
if [[ "$(id -u)" -ne 0 ]] || ! command -v apt-get >/dev/null; then
  echo "install-postgres: PostgreSQL server not found. Install it (Debian/Ubuntu: sudo apt-get install postgresql;" \
       "macOS: brew install postgresql) or set PG_BINDIR to its bin directory." >&2
  exit 2
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends postgresql >/dev/null
# Debian starts a cluster on 5432 after install; the tests run their own servers
if command -v pg_ctlcluster >/dev/null; then
  for cluster in $(ls /etc/postgresql 2>/dev/null); do pg_ctlcluster "$cluster" main stop 2>/dev/null || true; done
fi
echo "install-postgres: installed $(ls -d /usr/lib/postgresql/*/bin | tail -1)"
