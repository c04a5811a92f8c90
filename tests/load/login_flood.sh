#!/usr/bin/env bash
# Reads during a flood of logins: authenticated GETs of one appointment at 4 connections, alone
# and then while 64 connections keep logging in (bcrypt at the production cost, 12). Prints the
# GETs' requests/s, p50 and p99 both ways, and the logins'. Not a test: it prints numbers.
#
#   BIN=target/release/healthcare tests/load/login_flood.sh            # SQLite
#   BIN=... DATABASE_URL=postgres://postgres@127.0.0.1/hc_flood tests/load/login_flood.sh
#     (an empty PostgreSQL database; the script seeds it)
set -euo pipefail
cd "$(dirname "$0")/../.."
export LOAD_DIR="$PWD/tests/load"
BIN=${BIN:-target/release/healthcare}
PORT=${PORT:-18080}
WORK=$(mktemp -d)
SERVER_PID=""
cleanup() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
export DATABASE_URL=${DATABASE_URL:-sqlite://$WORK/flood.db} BCRYPT_COST=12 RUST_LOG=warn \
    HEALTHCARE_BIND="127.0.0.1:$PORT"
"$BIN" seed-demo --doctors 100 --patients 5000 --appointments 10000 --password bench-password-1 >/dev/null 2>&1
"$BIN" serve >/dev/null 2>"$WORK/server.log" &
SERVER_PID=$!
until curl -sf "http://127.0.0.1:$PORT/api/health/" >/dev/null; do sleep 0.005; done
TOKEN=$(curl -sf -XPOST "http://127.0.0.1:$PORT/api/token/" -H 'Content-Type: application/json' \
    -d '{"username": "demo-admin", "password": "bench-password-1"}' | sed 's/.*"access":"\([^"]*\)".*/\1/')
export TOKEN
AID=$(curl -sf "http://127.0.0.1:$PORT/api/appointments/?limit=1&ordering=id" -H "Authorization: Bearer $TOKEN" \
    | sed 's/^\[{"id":\([0-9]*\).*/\1/')
export BENCH_PATH="/api/appointments/$AID/"
gets() { wrk -t1 -c4 -d"$1" --timeout 30s -s "$LOAD_DIR/get.lua" "http://127.0.0.1:$PORT" | awk '/^RESULT/ { printf "%s/s p50 %.2f ms p99 %.2f ms errors %s", $2, $3 / 1000, $4 / 1000, $5 }'; }
echo "GET by id, c4, alone:               $(gets 4s)"
wrk -t1 -c64 -d12s --timeout 30s -s "$LOAD_DIR/login.lua" "http://127.0.0.1:$PORT" >"$WORK/logins.txt" &
LOGINS=$!
sleep 2
echo "GET by id, c4, during 64 logins:    $(gets 8s)"
wait "$LOGINS"
awk '/^RESULT/ { printf "logins (c64, 12 s):                 %s/s p50 %.0f ms p99 %.0f ms errors %s\n", $2, $3 / 1000, $4 / 1000, $5 }' "$WORK/logins.txt"
echo "server threads: $(awk '/^Threads/ { print $2 }' "/proc/$SERVER_PID/status")"
