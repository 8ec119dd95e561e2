#!/usr/bin/env bash
# `make fuzz`: a longer, randomised schemathesis pass against a running `guanxi serve`.
#
# A throwaway GUANXI_HOME gets a small demo data set (so ids, customers, orders and coupons exist),
# the server starts on it, and `schemathesis run` drives every operation through the examples,
# coverage, fuzzing and stateful phases as the demo admin, bounded by FUZZ_MAX_EXAMPLES per
# operation and FUZZ_MAX_TIME seconds in all. The server's access log gives the figures printed at
# the end: requests answered under /api/ and responses >= 500 (the server's own error log is
# counted too). Reports (JUnit, the server log and a summary) go to test-output/fuzz/.
# Exit status: non-zero if any response was >= 500.
#
# Generated credentials are not sent (the admin token is). Left out: the calls that would end the
# fuzzer's own session (logout, and disabling, revoking or resetting staff users), since every
# request after them would only test the 401. The suite's fuzz test (tests/api/test_fuzz.py)
# covers them on fresh rows.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
OUT="${FUZZ_OUTPUT:-$PWD/test-output/fuzz}"
PORT="${FUZZ_PORT:-8765}"
MAX_TIME="${FUZZ_MAX_TIME:-1200}"
MAX_EXAMPLES="${FUZZ_MAX_EXAMPLES:-150}"
CUSTOMERS="${FUZZ_CUSTOMERS:-200}"
# One worker: schemathesis generating in two threads trips a CPython 3.11 parser error.
WORKERS="${FUZZ_WORKERS:-1}"
SEED="${FUZZ_SEED:-$RANDOM}"
BASE="http://127.0.0.1:$PORT"

mkdir -p "$OUT"
HOME_DIR="$(mktemp -d -t guanxi-fuzz-XXXXXX)"
export GUANXI_HOME="$HOME_DIR"
unset GUANXI_DATABASE_URL GUANXI_REDIS_URL
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$HOME_DIR"
}
trap cleanup EXIT

echo "== loading $CUSTOMERS demo customers into $HOME_DIR"
$BIN/guanxi demo --customers "$CUSTOMERS" --orders "$((CUSTOMERS * 3))" --no-serve >"$OUT/demo.log" 2>&1

echo "== starting guanxi serve on $BASE"
$BIN/guanxi serve --host 127.0.0.1 --port "$PORT" >"$OUT/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 120); do
  curl -fsS "$BASE/healthz" >/dev/null 2>&1 && break
  sleep 0.5
done
curl -fsS "$BASE/healthz" >/dev/null

TOKEN="$(curl -fsS -d username=admin -d password=admin-demo "$BASE/api/v1/auth/token" \
  | $BIN/python -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')"

echo "== schemathesis run (seed $SEED, at most $MAX_EXAMPLES examples per operation, $MAX_TIME s)"
set +e
$BIN/schemathesis run "$BASE/openapi.json" \
  --url "$BASE" \
  -H "Authorization: Bearer $TOKEN" \
  --phases examples,coverage,fuzzing,stateful \
  --checks not_a_server_error \
  --max-examples "$MAX_EXAMPLES" \
  --max-time "$MAX_TIME" \
  --seed "$SEED" \
  --workers "$WORKERS" \
  --continue-on-failure \
  --generation-with-security-parameters false \
  --exclude-path /api/v1/auth/logout \
  --exclude-path-regex '^/api/v1/users/\{user_id\}/' \
  --report junit \
  --report-dir "$OUT" \
  >"$OUT/schemathesis.log" 2>&1
RUN_STATUS=$?
set -e
tail -n 25 "$OUT/schemathesis.log"

$BIN/python - "$OUT" "$SEED" "$RUN_STATUS" <<'PY'
import datetime, os, pathlib, re, sys

out, seed, status = pathlib.Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
log = (out / "server.log").read_text(errors="replace")
# uvicorn's access log: ... "GET /api/v1/customers?... HTTP/1.1" 422 Unprocessable Entity
answered = re.findall(r'"[A-Z]+ /api/\S* HTTP/[0-9.]+" (\d{3})', log)
errors = sum(1 for code in answered if code >= "500")
unhandled = log.count("unhandled ")
summary = (
    f"date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC\n"
    f"machine: {os.cpu_count()} cores\n"
    f"seed: {seed}\n"
    f"requests: {len(answered)}\n"
    f"responses >= 500: {errors}\n"
    f"unhandled errors logged by the server: {unhandled}\n"
    f"schemathesis exit status: {status}\n"
)
(out / "summary.txt").write_text(summary)
print(summary, end="")
sys.exit(1 if errors or unhandled else 0)
PY
