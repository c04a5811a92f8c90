#!/usr/bin/env bash
# Bookings alone (docs/performance.md, "Bookings and the outbox"): seeds a fresh database with
# `healthcare seed-demo`, starts the server and runs `wrk -c64 book.lua` for DURATION seconds,
# printing req/s, p50, p99 and errors, then the server's resident memory and threads. Not a test: it prints numbers.
#
#   BIN=target/release/healthcare tests/load/bookings.sh
#   HOOK=1 ...          # with one webhook subscription and tests/load/webhook_receiver.py
#   BACKEND=postgres    # on PostgreSQL (database hc_bookings next to BENCH_PG_URL's)
#   PSTAT=1             # also the server's pwrite and fsync calls over 4 s (perf stat)
#   PERF=1              # also a 2 s profile of the server (perf record --call-graph dwarf)
set -euo pipefail
cd "$(dirname "$0")/../.."
export LOAD_DIR="$PWD/tests/load"
BIN=${BIN:-$PWD/target/release/healthcare}
DURATION=${DURATION:-8}
PORT=${PORT:-18181}
PG_URL=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
W=$(mktemp -d)
if [ "${BACKEND:-sqlite}" = postgres ]; then
    psql "$PG_URL" -qc 'DROP DATABASE IF EXISTS hc_bookings WITH (FORCE)' -c 'CREATE DATABASE hc_bookings' >/dev/null
    URL="${PG_URL%/*}/hc_bookings?sslmode=disable"
else
    URL="sqlite://$W/bookings.db"
fi
export DATABASE_URL=$URL BCRYPT_COST=4 RUST_LOG=warn HEALTHCARE_BIND=127.0.0.1:$PORT HEALTHCARE_WEBHOOK_ALLOW_PRIVATE=true
"$BIN" seed-demo --doctors 100 --patients 5000 --appointments 10000 --password bench-password-1 >/dev/null 2>&1
"$BIN" serve >/dev/null 2>"$W/server.log" &
SP=$!
RP=""
trap 'kill $SP 2>/dev/null; [ -n "$RP" ] && kill $RP 2>/dev/null; rm -rf "$W"' EXIT
until curl -sf "http://127.0.0.1:$PORT/api/health/" >/dev/null; do sleep 0.01; done
api() { curl -sf "http://127.0.0.1:$PORT$1" -H "Authorization: Bearer $TOKEN" "${@:2}"; }
TOKEN=$(curl -sf -XPOST "http://127.0.0.1:$PORT/api/token/" -H 'Content-Type: application/json' \
    -d '{"username": "demo-admin", "password": "bench-password-1"}' | sed 's/.*"access":"\([^"]*\)".*/\1/')
export TOKEN
FIRST_DOCTOR=$(api "/api/doctors/?limit=1" | sed 's/^\[{"id":\([0-9]*\).*/\1/')
FIRST_PATIENT=$(api "/api/patients/?limit=1" | sed 's/^\[{"id":\([0-9]*\).*/\1/')
if [ -n "${HOOK:-}" ]; then
    python3 "$LOAD_DIR/webhook_receiver.py" "$W/receiver.port" &
    RP=$!
    until [ -s "$W/receiver.port" ]; do sleep 0.05; done
    api /api/webhooks/ -XPOST -H 'Content-Type: application/json' \
        -d "{\"url\": \"http://127.0.0.1:$(cat "$W/receiver.port")/hook\", \"events\": [\"appointment.created\"]}" >/dev/null
fi
PROBE=""
if [ -n "${PSTAT:-}" ]; then
    (sleep 2; perf stat -e syscalls:sys_enter_pwrite64,syscalls:sys_enter_fsync -p $SP -- sleep 4 2>&1 >/dev/null | grep -E 'pwrite|fsync') &
    PROBE=$!
elif [ -n "${PERF:-}" ]; then
    (sleep 2; perf record -F 499 --call-graph dwarf,16384 -p $SP -o "${PERF_DATA:-perf.data}" -- sleep 2 >/dev/null 2>&1) &
    PROBE=$!
fi
DOCTORS=100 PATIENTS=5000 FIRST_DOCTOR=$FIRST_DOCTOR FIRST_PATIENT=$FIRST_PATIENT \
    wrk -t2 -c64 -d"${DURATION}s" -s "$LOAD_DIR/book.lua" "http://127.0.0.1:$PORT" |
    awk '/^RESULT/ { printf "bookings c64: %s req/s, p50 %.2f ms, p99 %.2f ms, %s errors\n", $2, $3 / 1000, $4 / 1000, $5 }'
[ -n "$PROBE" ] && wait "$PROBE"
if [ -n "${HOOK:-}" ]; then
    sleep "${DRAIN:-20}"
    echo "receiver: $(curl -sf "http://127.0.0.1:$(cat "$W/receiver.port")/stats")"
fi
echo "server: RSS $(awk '/VmRSS/ { printf "%.1f MB", $2 / 1024 }' /proc/$SP/status), $(awk '/Threads/ { print $2 }' /proc/$SP/status) threads"
