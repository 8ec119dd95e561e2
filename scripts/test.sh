#!/usr/bin/env bash
# The whole check: lint, types, layering contracts, then the suite on SQLite and on PostgreSQL.
# PostgreSQL is used when GUANXI_TEST_POSTGRES_URL is set or a server answers on 127.0.0.1:5432;
# GUANXI_REQUIRE_POSTGRES=1 (set by CI) makes its absence an error.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
export TEST_OUTPUT_DIR="${TEST_OUTPUT_DIR:-$PWD/test-output}"
mkdir -p "$TEST_OUTPUT_DIR"

echo "== ruff"
$BIN/ruff check src tests benchmarks
echo "== mypy"
$BIN/mypy
echo "== import-linter"
$BIN/lint-imports

WORKERS="${GUANXI_TEST_WORKERS:-2}"
echo "== pytest on SQLite"
$BIN/pytest -n "$WORKERS" -p no:cacheprovider "$@"

PG_URL="${GUANXI_TEST_POSTGRES_URL:-}"
if [ -z "$PG_URL" ] && $BIN/python - <<'PY'
import socket, sys
s = socket.socket(); s.settimeout(1)
sys.exit(0 if s.connect_ex(("127.0.0.1", 5432)) == 0 else 1)
PY
then
  PG_URL="postgresql://postgres@127.0.0.1:5432/postgres"
fi
if [ -n "$PG_URL" ]; then
  echo "== pytest on PostgreSQL"
  GUANXI_TEST_DATABASE_URL="$PG_URL" $BIN/pytest -n "$WORKERS" -p no:cacheprovider "$@"
elif [ "${GUANXI_REQUIRE_POSTGRES:-0}" = "1" ]; then
  echo "PostgreSQL is required but not reachable on 127.0.0.1:5432" >&2
  exit 1
else
  echo "== PostgreSQL not reachable: skipped the PostgreSQL run"
fi
