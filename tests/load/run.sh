#!/usr/bin/env bash
# Load bench of the release binary: builds it, makes a data set with `healthcare seed-demo`,
# runs wrk (Debian package) against /api/health/ (the ceiling), authenticated GETs of one
# appointment, one patient, one doctor and one mapping by id, bookings (POST) without and with
# one webhook subscription (tests/load/webhook_receiver.py receives), and a filtered list, on
# SQLite and on PostgreSQL, then prints one table. Not a test: it prints numbers.
#
#   tests/load/run.sh                       # both backends, 10,000 appointments
#   APPOINTMENTS=1000000 tests/load/run.sh  # the 1M-row figures
#   BACKENDS=sqlite DURATION=5 tests/load/run.sh
#   BIN=/path/to/older/healthcare tests/load/run.sh   # another build, for before/after
#   NO_WEBHOOK=1 BIN=... tests/load/run.sh           # a build from before webhooks figures
#   SMAPS=1 BACKENDS=sqlite tests/load/run.sh        # also where the resident memory is, after the load
#   METRICS=1 tests/load/run.sh      # with HEALTHCARE_METRICS_BIND on, /metrics scraped every second
#                                    # during the c64 bookings (docs/operations.md "Metrics")
#   NO_FHIR=1 BIN=... tests/load/run.sh               # a build from before the FHIR facade
#
# PostgreSQL: BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432/postgres); a database
# hc_bench is created next to it and dropped afterwards. The server reaches it over loopback
# without TLS (sslmode=disable, BENCH_PG_PARAMS); TLS on loopback costs about a fifth of the
# PostgreSQL GET throughput here.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
export LOAD_DIR="$ROOT/tests/load"
APPOINTMENTS=${APPOINTMENTS:-10000}
DOCTORS=${DOCTORS:-100}
PATIENTS=${PATIENTS:-5000}
DURATION=${DURATION:-10}
BACKENDS=${BACKENDS:-"sqlite postgres"}
PG_URL=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
PORT=${PORT:-18080}
if [ -n "${METRICS:-}" ]; then
    export HEALTHCARE_METRICS_BIND="127.0.0.1:$((PORT + 1))"
fi
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
command -v sqlite3 >/dev/null || { echo "sqlite3 is missing: apt-get install sqlite3" >&2; exit 1; }

if [ -z "${BIN:-}" ]; then
    [ -n "${SKIP_BUILD:-}" ] || cargo build --release -q -p healthcare-api
    BIN="$ROOT/target/release/healthcare"
fi
PG_PARAMS=${BENCH_PG_PARAMS-?sslmode=disable}
WORK=$(mktemp -d)
SERVER_PID=""
# One webhook subscription's receiver (docs/notifications.md), for the bookings with a webhook.
python3 "$ROOT/tests/load/webhook_receiver.py" "$WORK/receiver.port" &
RECEIVER_PID=$!
until [ -s "$WORK/receiver.port" ]; do sleep 0.05; done
RECEIVER="http://127.0.0.1:$(cat "$WORK/receiver.port")"
cleanup() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
    kill "$RECEIVER_PID" 2>/dev/null || true
    psql "$PG_URL" -qc 'DROP DATABASE IF EXISTS hc_bench WITH (FORCE)' >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

ms() { awk -v us="$1" 'BEGIN { printf "%.2f", us / 1000 }'; }
rows=()
row() { rows+=("$(printf '| %-9s | %-34s | %9s | %8s | %8s | %6s | %6s |' "$@")"); }

sql() { # backend query -> the single value it selects
    if [ "$1" = sqlite ]; then
        sqlite3 "$WORK/bench.db" "$2"
    else
        psql "${PG_URL%/*}/hc_bench" -tAc "$2"
    fi
}

wrk_run() { # connections path-or-script -> "rps p50 p99 errors"
    local conns=$1 script=$2
    wrk -t2 -c"$conns" -d"${DURATION}s" -s "$LOAD_DIR/$script" "http://127.0.0.1:$PORT" \
        | awk '/^RESULT/ { print $2, $3, $4, $5 }'
}

get_row() { # backend label path: an authenticated GET at c16, as a row with its ratio to the ceiling
    local r_rps r_p50 r_p99 r_err
    read -r r_rps r_p50 r_p99 r_err < <(BENCH_PATH="$3" wrk_run 16 get.lua)
    row "$1" "$2" "$r_rps" "$(ms "$r_p50")" "$(ms "$r_p99")" \
        "$(awk -v a="$r_rps" -v b="$h_rps" 'BEGIN { printf "%.2f", a / b }')" "$r_err"
}

for backend in $BACKENDS; do
    if [ "$backend" = sqlite ]; then
        URL="sqlite://$WORK/bench.db"
    else
        psql "$PG_URL" -qc 'DROP DATABASE IF EXISTS hc_bench WITH (FORCE)' -c 'CREATE DATABASE hc_bench' >/dev/null
        URL="${PG_URL%/*}/hc_bench$PG_PARAMS"
    fi
    export DATABASE_URL="$URL" BCRYPT_COST=4 RUST_LOG=warn HEALTHCARE_BIND="127.0.0.1:$PORT" \
        HEALTHCARE_WEBHOOK_ALLOW_PRIVATE=true
    echo "[$backend] seeding $DOCTORS doctors, $PATIENTS patients, $APPOINTMENTS appointments" >&2
    seed_start=$(date +%s.%N)
    "$BIN" seed-demo --doctors "$DOCTORS" --patients "$PATIENTS" --appointments "$APPOINTMENTS" \
        --password bench-password-1 >/dev/null
    seed_secs=$(awk -v a="$seed_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    # PostgreSQL writes a bulk load's pages out at its next checkpoint; do that now, so neither
    # the start-up time nor the first scenario measures that flush.
    [ "$backend" = postgres ] && psql "${PG_URL%/*}/hc_bench" -qc 'CHECKPOINT' >/dev/null
    # Start-up to the first answered request (migrations already applied).
    t0=$(date +%s%N)
    "$BIN" serve >/dev/null 2>"$WORK/server-$backend.log" &
    SERVER_PID=$!
    until curl -sf "http://127.0.0.1:$PORT/api/health/" >/dev/null; do sleep 0.001; done
    startup_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    TOKEN=$(curl -sf -XPOST "http://127.0.0.1:$PORT/api/token/" -H 'Content-Type: application/json' \
        -d '{"username": "demo-admin", "password": "bench-password-1"}' | sed 's/.*"access":"\([^"]*\)".*/\1/')
    export TOKEN
    first=$(curl -sf "http://127.0.0.1:$PORT/api/appointments/?limit=1&ordering=id" -H "Authorization: Bearer $TOKEN")
    AID=$(echo "$first" | sed 's/^\[{"id":\([0-9]*\).*/\1/')
    DID=$(echo "$first" | sed 's/.*"doctor":\([0-9]*\).*/\1/')
    FIRST_DOCTOR=$(curl -sf "http://127.0.0.1:$PORT/api/doctors/?limit=1" -H "Authorization: Bearer $TOKEN" | sed 's/^\[{"id":\([0-9]*\).*/\1/')
    FIRST_PATIENT=$(curl -sf "http://127.0.0.1:$PORT/api/patients/?limit=1" -H "Authorization: Bearer $TOKEN" | sed 's/^\[{"id":\([0-9]*\).*/\1/')
    FIRST_MAPPING=$(curl -sf "http://127.0.0.1:$PORT/api/mappings/?limit=1" -H "Authorization: Bearer $TOKEN" | sed 's/^\[{"id":\([0-9]*\).*/\1/')
    DATE_FROM=$(date -u -d '+2 days' +%Y-%m-%d)

    read -r h_rps h_p50 h_p99 h_err < <(BENCH_PATH=/api/health/ wrk_run 16 get.lua)
    row "$backend" "GET /api/health/ (ceiling), c16" "$h_rps" "$(ms "$h_p50")" "$(ms "$h_p99")" "1.00" "$h_err"
    # The audit trail (docs/audit.md): events written while the load runs, and how long the
    # sealer needs to link them all into the chain after it.
    events_total=$(sql "$backend" 'SELECT COUNT(*) FROM audit_events')
    load_start=$(date +%s.%N)
    # Single records by id (the shared batched read path, crates/api/src/coalesce.rs).
    events_before=$(sql "$backend" 'SELECT COUNT(*) FROM audit_events')
    get_row "$backend" "GET /api/appointments/{id}/, c16" "/api/appointments/$AID/"
    events_get=$(( $(sql "$backend" 'SELECT COUNT(*) FROM audit_events') - events_before ))
    get_row "$backend" "GET /api/patients/{id}/, c16" "/api/patients/$FIRST_PATIENT/"
    get_row "$backend" "GET /api/doctors/{id}/, c16" "/api/doctors/$FIRST_DOCTOR/"
    get_row "$backend" "GET /api/mappings/{id}/, c16" "/api/mappings/$FIRST_MAPPING/"
    read -r l_rps l_p50 l_p99 l_err < <(BENCH_PATH="/api/appointments/?doctor=$DID&date_from=$DATE_FROM&limit=50" wrk_run 16 get.lua)
    row "$backend" "GET list doctor+date_from limit 50" "$l_rps" "$(ms "$l_p50")" "$(ms "$l_p99")" \
        "$(awk -v a="$l_rps" -v b="$h_rps" 'BEGIN { printf "%.2f", a / b }')" "$l_err"
    # The FHIR facade's appointment search against the same REST list (docs/fhir.md "Speed"):
    # one doctor's appointments over 30 days, 50 a page (NO_FHIR=1 leaves it out, for a build
    # without the facade).
    if [ -z "${NO_FHIR:-}" ]; then
    DATE_TO=$(date -u -d '+32 days' +%Y-%m-%d)
    DATE_LAST=$(date -u -d '+31 days' +%Y-%m-%d)
    read -r r_rps r_p50 r_p99 r_err < <(BENCH_PATH="/api/appointments/?doctor=$DID&date_from=$DATE_FROM&date_to=$DATE_LAST&limit=50" wrk_run 16 get.lua)
    row "$backend" "GET list doctor+30 days limit 50" "$r_rps" "$(ms "$r_p50")" "$(ms "$r_p99")" \
        "$(awk -v a="$r_rps" -v b="$h_rps" 'BEGIN { printf "%.2f", a / b }')" "$r_err"
    read -r f_rps f_p50 f_p99 f_err < <(BENCH_PATH="/fhir/R4/Appointment?practitioner=$DID&date=ge$DATE_FROM&date=lt$DATE_TO&_count=50" wrk_run 16 get.lua)
    row "$backend" "FHIR Appointment search, same" "$f_rps" "$(ms "$f_p50")" "$(ms "$f_p99")" \
        "$(awk -v a="$f_rps" -v b="$h_rps" 'BEGIN { printf "%.2f", a / b }')" "$f_err"
    rows+=("|           | FHIR search against the REST list: $(awk -v a="$f_rps" -v b="$r_rps" 'BEGIN { printf "%.2f", a / b }') of its req/s, p99 $(awk -v a="$f_p99" -v b="$r_p99" 'BEGIN { printf "%.2f", a / b }')x | | | | | |")
    fi
    if [ -n "${METRICS:-}" ]; then
        # A Prometheus scrape every second while the bookings run.
        (for _ in $(seq 1 "$DURATION"); do
            curl -sf -m 2 "http://$HEALTHCARE_METRICS_BIND/metrics" -o /dev/null && echo ok; sleep 1
        done) > "$WORK/scrapes-$backend" &
        SCRAPER=$!
    fi
    read -r b_rps b_p50 b_p99 b_err < <(DOCTORS=$DOCTORS PATIENTS=$PATIENTS FIRST_DOCTOR=$FIRST_DOCTOR \
        FIRST_PATIENT=$FIRST_PATIENT wrk_run 64 book.lua)
    row "$backend" "POST /api/appointments/, c64" "$b_rps" "$(ms "$b_p50")" "$(ms "$b_p99")" \
        "$(awk -v a="$b_rps" -v b="$h_rps" 'BEGIN { printf "%.2f", a / b }')" "$b_err"
    if [ -n "${METRICS:-}" ]; then
        wait "$SCRAPER" || true
        counted=$(curl -sf "http://$HEALTHCARE_METRICS_BIND/metrics" \
            | awk '/^healthcare_http_requests_total[{]method="POST",route="[/]api[/]appointments[/]",status="201"[}]/ { print $2 }')
        rows+=("|           | metrics: $(grep -c ok "$WORK/scrapes-$backend") scrapes answered during the bookings; bookings counted (201): ${counted:-none} | | | | | |")
    fi
    # The same with one active webhook subscription for appointment.created and its receiver:
    # then how fast the dispatcher delivered every booking's event, and each event's delay from
    # its commit to its arrival (NO_WEBHOOK=1 leaves it out, for a build without webhooks).
    if [ -z "${NO_WEBHOOK:-}" ]; then
    curl -sf -XDELETE "$RECEIVER/stats" >/dev/null
    HOOK=$(curl -sf -XPOST "http://127.0.0.1:$PORT/api/webhooks/" -H "Authorization: Bearer $TOKEN" \
        -H 'Content-Type: application/json' \
        -d "{\"url\": \"$RECEIVER/hook\", \"events\": [\"appointment.created\"]}" | sed 's/^{"id":\([0-9]*\).*/\1/')
    read -r b_rps b_p50 b_p99 b_err < <(BOOK_YEAR=2060 DOCTORS=$DOCTORS PATIENTS=$PATIENTS FIRST_DOCTOR=$FIRST_DOCTOR \
        FIRST_PATIENT=$FIRST_PATIENT wrk_run 64 book.lua)
    row "$backend" "POST /api/appointments/, c64, webhook" "$b_rps" "$(ms "$b_p50")" "$(ms "$b_p99")" \
        "$(awk -v a="$b_rps" -v b="$h_rps" 'BEGIN { printf "%.2f", a / b }')" "$b_err"
    hook_start=$(date +%s.%N)
    # (at most 300 s: what arrived by then is reported)
    until [ "$(sql "$backend" "SELECT COUNT(*) FROM webhook_messages WHERE webhook_id = $HOOK AND state = 'pending'")" = 0 ] \
        && [ "$(sql "$backend" 'SELECT COUNT(*) FROM outbox_events WHERE NOT fanned_out')" = 0 ] \
        || [ "$(awk -v a="$hook_start" -v b="$(date +%s.%N)" 'BEGIN { print (b - a > 300) }')" = 1 ]; do sleep 0.2; done
    drain_secs=$(awk -v a="$hook_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    stats=$(curl -sf "$RECEIVER/stats")
    rows+=("|           | $(echo "$stats" | python3 -c 'import json, sys; s = json.load(sys.stdin); print("webhook: %d events delivered at %d/s; commit to delivery p50 %s ms, p99 %s ms" % (s["count"], s["count"] / max(s["last"] - s["first"], 0.001), s["p50_ms"], s["p99_ms"]))'); last one ${drain_secs}s after the load | | | | | |")
    curl -sf -XDELETE "http://127.0.0.1:$PORT/api/webhooks/$HOOK/" -H "Authorization: Bearer $TOKEN" >/dev/null
    fi
    # Latency under a moderate load (4 clients): the list and a booking's conflict check.
    read -r l_rps l_p50 l_p99 l_err < <(BENCH_PATH="/api/appointments/?doctor=$DID&date_from=$DATE_FROM&limit=50" wrk_run 4 get.lua)
    row "$backend" "GET list doctor+date_from, c4" "$l_rps" "$(ms "$l_p50")" "$(ms "$l_p99")" \
        "$(awk -v a="$l_rps" -v b="$h_rps" 'BEGIN { printf "%.2f", a / b }')" "$l_err"
    read -r b_rps b_p50 b_p99 b_err < <(BOOK_YEAR=2140 DOCTORS=$DOCTORS PATIENTS=$PATIENTS FIRST_DOCTOR=$FIRST_DOCTOR \
        FIRST_PATIENT=$FIRST_PATIENT wrk_run 4 book.lua)
    row "$backend" "POST /api/appointments/, c4" "$b_rps" "$(ms "$b_p50")" "$(ms "$b_p99")" \
        "$(awk -v a="$b_rps" -v b="$h_rps" 'BEGIN { printf "%.2f", a / b }')" "$b_err"
    load_secs=$(awk -v a="$load_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    events_total=$(( $(sql "$backend" 'SELECT COUNT(*) FROM audit_events') - events_total ))
    seal_start=$(date +%s.%N)
    until [ "$(sql "$backend" 'SELECT COUNT(*) FROM audit_events WHERE seq IS NULL')" = 0 ]; do sleep 0.1; done
    seal_secs=$(awk -v a="$seal_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    rows+=("|           | audit: $events_total events in ${load_secs}s of load ($(awk -v n="$events_total" -v s="$load_secs" 'BEGIN { printf "%d", n / s }')/s; $(awk -v n="$events_get" -v s="$DURATION" 'BEGIN { printf "%d", n / s }')/s during GET appointment); all sealed ${seal_secs}s after the load | | | | | |")
    rss_kb=$(ps -o rss= -p "$SERVER_PID" | tr -d ' ')
    if [ -n "${SMAPS:-}" ]; then # where the resident memory is (docs/performance.md)
        { echo "[$backend] after the load: $(grep Threads "/proc/$SERVER_PID/status")"
          awk -f "$LOAD_DIR/smaps.awk" "/proc/$SERVER_PID/smaps" | sort -rn; } >&2
    fi
    rows+=("|           | seed ${seed_secs}s; start-up to first answer ${startup_ms} ms; RSS after load $(awk -v k="$rss_kb" 'BEGIN { printf "%.1f", k / 1024 }') MB | | | | | |")
    kill -TERM "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""
done

echo
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'); wrk -t2, ${DURATION}s per scenario; $APPOINTMENTS appointments"
echo "| backend   | scenario                           | req/s     | p50 ms   | p99 ms   | ratio  | errors |"
echo "|-----------|------------------------------------|-----------|----------|----------|--------|--------|"
printf '%s\n' "${rows[@]}"
