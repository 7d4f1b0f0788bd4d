#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tuning tests, on 127.0.0.1 with a fresh data folder.
#
#   eval "$(.ci/postgres.sh start)"   # prints the exports: KNOBWISE_TEST_POSTGRES_URL, KNOBWISE_TEST_POSTGRES_DIR
#   .ci/postgres.sh stop              # stops the server of $KNOBWISE_TEST_POSTGRES_DIR and removes the folder
#
# Installs Debian's `postgresql` when initdb/pg_ctl are missing (needs root for apt-get). The server
# never runs as root: as root it runs as the `postgres` user (created by the Debian package).
# Progress goes to stderr; stdout carries only the export lines.
set -euo pipefail

find_bin() {
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(readlink -f "$(command -v pg_ctl)")"  # /usr/local/bin may hold only links
    return
  fi
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

as_server_user() {
  if [ "$(id -u)" -eq 0 ]; then
    su -s /bin/sh postgres -c "$*"
  else
    sh -c "$*"
  fi
}

start() {
  local bin
  bin="$(find_bin)"
  if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    echo "postgres.sh: installing Debian's postgresql" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
    bin="$(find_bin)"
  fi
  local dir port
  dir="$(mktemp -d "${TMPDIR:-/tmp}/knobwise-pg.XXXXXX")"
  port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres "$dir"
  fi
  as_server_user "'$bin/initdb' -D '$dir/data' -A trust -U knobwise -E UTF8 --no-locale" >&2
  as_server_user "'$bin/pg_ctl' -D '$dir/data' -l '$dir/server.log' -w -t 60 \
    -o \"-c listen_addresses=127.0.0.1 -p $port -k '$dir' -c max_connections=200 -c fsync=off\" start" >&2
  as_server_user "'$bin/createdb' -h 127.0.0.1 -p $port -U knobwise knobwise_test" >&2
  echo "export KNOBWISE_TEST_POSTGRES_URL=postgresql+psycopg2://knobwise@127.0.0.1:$port/knobwise_test"
  echo "export KNOBWISE_TEST_POSTGRES_DIR=$dir"
}

stop() {
  local dir="${KNOBWISE_TEST_POSTGRES_DIR:-}"
  [ -n "$dir" ] && [ -d "$dir/data" ] || return 0
  as_server_user "'$(find_bin)/pg_ctl' -D '$dir/data' -m fast -w stop" >&2 || true
  rm -rf "$dir"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
