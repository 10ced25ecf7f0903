#!/usr/bin/env bash
# The database alone: times SQLite and PostgreSQL inserting the rows of the engine benchmark's
# cold plan into the migrated schema (sqlite.sql, postgres.sql), N times each (default 3).
# Needs the sqlite3 and psql command-line tools; PostgreSQL at ORGSYNC_TEST_POSTGRES_URL
# (a database it may create `orgsync_floor` from). BENCHMARKS.md, "The floor".
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds="${1:-3}"
url="${ORGSYNC_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"; psql -q "$url" -c "DROP DATABASE IF EXISTS orgsync_floor" 2>/dev/null || true' EXIT
cat migrations/sqlite/*.sql > "$scratch/schema.sql"
for _ in $(seq 1 "$rounds"); do
    rm -f "$scratch"/floor.db*
    sqlite3 "$scratch/floor.db" < "$scratch/schema.sql" > /dev/null
    start=$(date +%s.%N)
    sqlite3 "$scratch/floor.db" < benches/floor/sqlite.sql | grep -o 'real [0-9.]*' | tr '\n' ' '
    echo "| sqlite total: $(awk "BEGIN { print $(date +%s.%N) - $start }") s"
done
for _ in $(seq 1 "$rounds"); do
    psql -q "$url" -c "DROP DATABASE IF EXISTS orgsync_floor" -c "CREATE DATABASE orgsync_floor"
    floor="${url%/*}/orgsync_floor"
    for f in migrations/postgres/*.sql; do psql -q "$floor" -f "$f" > /dev/null; done
    start=$(date +%s.%N)
    psql -q "$floor" -v ON_ERROR_STOP=1 -f benches/floor/postgres.sql | grep -o '^Time: [0-9.]*' | tr '\n' ' '
    echo "| postgres total: $(awk "BEGIN { print $(date +%s.%N) - $start }") s"
done
