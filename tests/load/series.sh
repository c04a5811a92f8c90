#!/usr/bin/env bash
# Series bench: how long `POST /api/appointment-series/` takes to answer for a 52-occurrence
# weekly series (docs/scheduling.md "Series"), on SQLite and on PostgreSQL, against the release
# binary with the demo data set. Not a test: it prints numbers.
#
#   tests/load/series.sh                 # both backends, 30 series each
#   BIN=/path/to/healthcare RUNS=50 BACKENDS=sqlite tests/load/series.sh
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
RUNS=${RUNS:-30}
BACKENDS=${BACKENDS:-"sqlite postgres"}
PG_URL=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
PORT=${PORT:-18091}
if [ -z "${BIN:-}" ]; then
    (cd "$ROOT" && cargo build --release -q -p healthcare-api)
    BIN="$ROOT/target/release/healthcare"
fi
WORK=$(mktemp -d)
trap 'kill $SERVER_PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
SERVER_PID=
B="http://127.0.0.1:$PORT"
for backend in $BACKENDS; do
    if [ "$backend" = sqlite ]; then
        URL="sqlite://$WORK/series.db"
    else
        psql "$PG_URL" -qc 'DROP DATABASE IF EXISTS hc_series WITH (FORCE)' -c 'CREATE DATABASE hc_series' >/dev/null
        URL="${PG_URL%/*}/hc_series?sslmode=disable"
    fi
    export DATABASE_URL="$URL" BCRYPT_COST=4 RUST_LOG=warn HEALTHCARE_BIND="127.0.0.1:$PORT"
    "$BIN" seed-demo --doctors 100 --patients 5000 --appointments 10000 --password bench-password-1 >/dev/null
    "$BIN" serve >/dev/null 2>"$WORK/server.log" &
    SERVER_PID=$!
    until curl -sf "$B/api/health/" >/dev/null; do sleep 0.01; done
    TOKEN=$(curl -sf -XPOST "$B/api/token/" -H 'Content-Type: application/json' \
        -d '{"username": "demo-admin", "password": "bench-password-1"}' | sed 's/.*"access":"\([^"]*\)".*/\1/')
    times=()
    for i in $(seq 1 "$RUNS"); do
        # A doctor and a patient of their own each time, one hour of the day each: nothing
        # collides, so all 52 occurrences are booked.
        doctor=$(curl -sf -XPOST "$B/api/doctors/" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
            -d "{\"first_name\": \"S\", \"last_name\": \"Bench\", \"specialization\": \"GP\", \"contact_number\": \"555 0101\", \"license_number\": \"SB-$i\", \"hospital\": \"H\"}" \
            | sed 's/^{"id":\([0-9]*\).*/\1/')
        patient=$(curl -sf -XPOST "$B/api/patients/" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
            -d '{"first_name": "S", "last_name": "Bench", "date_of_birth": "1980-01-01", "gender": "O", "contact_number": "555 0100"}' \
            | sed 's/^{"id":\([0-9]*\).*/\1/')
        out=$(curl -s -o "$WORK/answer.json" -w '%{http_code} %{time_total}' -XPOST "$B/api/appointment-series/" \
            -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
            -d "{\"doctor\": $doctor, \"patient\": $patient, \"appointment_datetime\": \"2032-01-05T09:00:00Z\", \"rrule\": \"FREQ=WEEKLY;COUNT=52\", \"timezone\": \"Europe/Berlin\"}")
        code=${out% *}
        if [ "$code" != 201 ] || [ "$(grep -o '"series":' "$WORK/answer.json" | wc -l)" != 52 ]; then
            echo "unexpected answer ($code): $(head -c 300 "$WORK/answer.json")" >&2
            exit 1
        fi
        times+=("${out#* }")
    done
    printf '%s\n' "${times[@]}" | sort -n | awk -v b="$backend" -v n="$RUNS" '
        { t[NR] = $1 * 1000 }
        END { printf "%-9s 52-occurrence series, %d runs: min %.1f ms, p50 %.1f ms, max %.1f ms\n", b, n, t[1], t[int((n + 1) / 2)], t[n] }'
    kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=
    [ "$backend" = postgres ] && psql "$PG_URL" -qc 'DROP DATABASE IF EXISTS hc_series WITH (FORCE)' >/dev/null
done
