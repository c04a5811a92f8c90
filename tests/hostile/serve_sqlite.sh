# Sourced by the hostile-input scripts: takes the binary ($HEALTHCARE_BIN, else a debug build
# in $target), starts it on a fresh database and sets:
#   bin           the binary
#   work          a temporary folder (server.out, server.err, SQLite databases), removed at exit
#   database_url  the database the server runs on
#   server_pid    the server process, stopped when the script exits (or by stop_server)
#   base          http://127.0.0.1:PORT
# Needs `target` set. fetch_document PYTHON OUT saves the served document.
#   serve_sqlite NAME     a fresh SQLite file, $work/NAME.db
#   serve_postgres NAME   a fresh PostgreSQL database on the server of $TEST_DATABASE_URL (which
#                         must be set and reachable: never skipped), dropped at exit
# Or in two steps, to run commands of the binary (create-user, ...) on the database before the
# server starts: sqlite_database NAME / postgres_database NAME (set `database_url`), then
# serve_database. stop_server stops the server, so that a script can start another one.
serve_setup() {
    if [ -n "${work:-}" ]; then
        return
    fi
    if [ -n "${HEALTHCARE_BIN:-}" ]; then
        bin="$HEALTHCARE_BIN"
    else
        cargo build --quiet -p healthcare-api --bin healthcare
        bin="$target/debug/healthcare"
    fi
    work=$(mktemp -d)
    server_pid=""
    pg_databases=()
    trap '
        stop_server
        for db in "${pg_databases[@]}"; do
            psql "$TEST_DATABASE_URL" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 \
                || echo "warning: could not drop the PostgreSQL database $db" >&2
        done
        rm -rf "$work"' EXIT
}

sqlite_database() {
    serve_setup
    database_url="sqlite://$work/$1.db"
}

postgres_database() {
    serve_setup
    if [ -z "${TEST_DATABASE_URL:-}" ]; then
        echo "FATAL: TEST_DATABASE_URL is unset; the PostgreSQL run is never skipped" >&2
        exit 1
    fi
    local name
    name="hc_$1_$$_$(date +%s%N)"
    name=$(printf '%s' "$name" | tr -c 'a-zA-Z0-9_' '_' | tr 'A-Z' 'a-z')
    if ! psql "$TEST_DATABASE_URL" -v ON_ERROR_STOP=1 -qc "CREATE DATABASE $name" >/dev/null; then
        echo "FATAL: could not create the PostgreSQL database $name at $TEST_DATABASE_URL" >&2
        exit 1
    fi
    pg_databases+=("$name")
    # The same server and credentials, another database: replace the path of the URL.
    local url="$TEST_DATABASE_URL" query=""
    case "$url" in *\?*) query="?${url#*\?}"; url="${url%%\?*}" ;; esac
    local rest="${url#*://}"
    case "$rest" in */*) url="${url%/*}" ;; esac
    database_url="$url/$name$query"
}

serve_database() {
    # Emptied first: a previous server's "listening on" line must not be read for this one.
    : >"$work/server.out"
    : >"$work/server.err"
    DATABASE_URL="$database_url" HEALTHCARE_BIND=127.0.0.1:0 BCRYPT_COST=4 RUST_LOG=error \
        "$bin" serve >"$work/server.out" 2>"$work/server.err" &
    server_pid=$!
    local port=""
    for _ in $(seq 1 100); do
        port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/server.out" | head -n1)
        [ -n "$port" ] && break
        kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.err" >&2; echo "FATAL: server exited" >&2; exit 1; }
        sleep 0.1
    done
    [ -n "$port" ] || { echo "FATAL: server did not start" >&2; exit 1; }
    base="http://127.0.0.1:$port"
}

stop_server() {
    if [ -n "${server_pid:-}" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=""
    fi
}

serve_sqlite() {
    sqlite_database "$1"
    serve_database
}

serve_postgres() {
    postgres_database "$1"
    serve_database
}

# Writes the document the running server serves at /api/schema/ to OUT, byte for byte, after
# checking it is OpenAPI 3.1. Usage: fetch_document PYTHON OUT
fetch_document() {
    "$1" - "$base/api/schema/" "$2" <<'PY'
import json, sys, urllib.request
url, out = sys.argv[1], sys.argv[2]
with urllib.request.urlopen(url) as r:
    if r.status != 200:
        sys.exit(f"FATAL: GET {url} answered {r.status}")
    raw = r.read()
doc = json.loads(raw)
if not str(doc.get("openapi", "")).startswith("3.1"):
    sys.exit(f"FATAL: the served document is OpenAPI {doc.get('openapi')!r}, not 3.1")
with open(out, "wb") as f:
    f.write(raw)
print(f"fetched {url}: OpenAPI {doc['openapi']}, {len(doc['paths'])} paths, {len(raw)} bytes")
PY
}
