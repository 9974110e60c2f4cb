#!/usr/bin/env bash
# Install (if missing) and start Debian's PostgreSQL on 127.0.0.1, create a test database and user, and
# print the URL the storage tests read:
#     eval "$(.ci/postgres.sh)"      # or: source .ci/postgres.sh
# Progress goes to stderr; stdout carries only the `export RISKENGINE_TEST_PG_URL=...` line.
# Must run as root (it uses apt-get and runs server commands as the postgres user).
set -euo pipefail

PG_PORT="${RISKENGINE_PG_PORT:-5432}"
PG_DB="${RISKENGINE_PG_DB:-riskengine_test}"
PG_USER="${RISKENGINE_PG_USER:-riskengine}"
PG_PASSWORD="${RISKENGINE_PG_PASSWORD:-riskengine}"

log() { echo "postgres.sh: $*" >&2; }

if ! command -v pg_lsclusters >/dev/null 2>&1 || [ -z "$(ls /usr/lib/postgresql 2>/dev/null)" ]; then
    log "installing Debian's postgresql"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update >&2
    apt-get install -y postgresql >&2
fi

version="$(ls /usr/lib/postgresql | sort -V | tail -n 1)"
if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -qx "$version main"; then
    log "creating cluster $version/main"
    pg_createcluster "$version" main --port "$PG_PORT" >&2
fi
conf="/etc/postgresql/$version/main/postgresql.conf"
sed -i "s/^#\?listen_addresses *=.*/listen_addresses = '127.0.0.1'/" "$conf"
sed -i "s/^#\?port *=.*/port = $PG_PORT/" "$conf"

status="$(pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" {print $4}')"
if [ "$status" != "online" ]; then
    log "starting cluster $version/main on 127.0.0.1:$PG_PORT"
    pg_ctlcluster "$version" main start >&2
fi
for _ in $(seq 1 30); do
    pg_isready -h 127.0.0.1 -p "$PG_PORT" -q && break
    sleep 1
done
pg_isready -h 127.0.0.1 -p "$PG_PORT" >&2

as_postgres() { su postgres -c "psql -p $PG_PORT -v ON_ERROR_STOP=1 -qtA $*"; }
if [ "$(as_postgres "-c \"SELECT 1 FROM pg_roles WHERE rolname = '$PG_USER'\"")" != "1" ]; then
    as_postgres "-c \"CREATE ROLE $PG_USER LOGIN PASSWORD '$PG_PASSWORD'\"" >&2
fi
if [ "$(as_postgres "-c \"SELECT 1 FROM pg_database WHERE datname = '$PG_DB'\"")" != "1" ]; then
    as_postgres "-c \"CREATE DATABASE $PG_DB OWNER $PG_USER\"" >&2
fi

RISKENGINE_TEST_PG_URL="postgresql+psycopg://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB"
export RISKENGINE_TEST_PG_URL
log "ready: $PG_DB on 127.0.0.1:$PG_PORT"
echo "export RISKENGINE_TEST_PG_URL=$RISKENGINE_TEST_PG_URL"
