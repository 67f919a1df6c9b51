#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests (installed from apt if missing).
#   scripts/pg.sh start DIR PORT   -> prints the server URL (postgres://postgres@127.0.0.1:PORT/registry)
#   scripts/pg.sh stop DIR
#   scripts/pg.sh prune DIR PORT   -> drops every test database (t_<uuid>) the tests left behind
# PG_DURABLE=1: fsync and synchronous commit on (benchmarks); tests run without them.
# initdb refuses to run as root, so as root the cluster runs as the 'postgres' user.
set -euo pipefail
cmd=${1:?start|stop}; dir=${2:?data dir}; port=${3:-55433}

as_owner() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
pgbin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

if [ "$cmd" = stop ]; then
  bin=$(pgbin); [ -n "$bin" ] && [ -d "$dir/data" ] && as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  exit 0
fi

if [ "$cmd" = prune ]; then
  # Each test makes its own database (~9 MB) and leaves it: a whole run leaves ~280 of them.
  q="SELECT datname FROM pg_database WHERE datname LIKE 't\\_%'"
  for db in $(psql -h 127.0.0.1 -p "$port" -U postgres -d registry -Atqc "$q"); do
    psql -h 127.0.0.1 -p "$port" -U postgres -d registry -qc "DROP DATABASE \"$db\" WITH (FORCE)"
  done
  exit 0
fi

if [ -z "$(pgbin)" ] || [ ! -x "$(pgbin)/initdb" ]; then
  echo "installing PostgreSQL from apt..." >&2
  sudo_=""; [ "$(id -u)" = 0 ] || sudo_=sudo
  $sudo_ apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq postgresql >&2
fi
bin=$(pgbin)
rm -rf "$dir"; mkdir -p "$dir"
[ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
as_owner "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-sync >/dev/null
# A small WAL for tests: the default lets pg_wal grow to 1 GB.
fast="-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_wal_size=128MB -c min_wal_size=32MB"
[ "${PG_DURABLE:-0}" = 1 ] && fast=""
as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -o \
  "-p $port -k $dir -c listen_addresses=127.0.0.1 $fast -c max_connections=300" \
  start >/dev/null
as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres registry
echo "postgres://postgres@127.0.0.1:$port/registry"
