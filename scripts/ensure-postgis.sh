#!/usr/bin/env bash
# Make sure the local PostgreSQL is running and has PostGIS available, installing it from
# Debian's packages when missing. Used by `make test` (and so by CI) on a fresh machine.
set -euo pipefail

HOST=${PGHOST:-127.0.0.1}
PORT=${PGPORT:-5432}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! pg_isready -q -h "$HOST" -p "$PORT"; then
    echo "PostgreSQL is not answering on $HOST:$PORT; starting the local cluster"
    for version in $(ls /etc/postgresql 2>/dev/null); do
        as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    done
    for _ in $(seq 1 30); do pg_isready -q -h "$HOST" -p "$PORT" && break; sleep 1; done
    pg_isready -h "$HOST" -p "$PORT"
fi

available=$(psql -h "$HOST" -p "$PORT" -U postgres -d postgres -Atc \
    "select count(*) from pg_available_extensions where name = 'postgis'")
if [ "$available" != "1" ]; then
    major=$(psql -h "$HOST" -p "$PORT" -U postgres -d postgres -Atc "show server_version_num" | cut -c1-2)
    echo "PostGIS is missing; installing postgresql-$major-postgis-3 from Debian's packages"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "postgresql-$major-postgis-3" >/dev/null
fi
echo "PostgreSQL with PostGIS is ready on $HOST:$PORT"
