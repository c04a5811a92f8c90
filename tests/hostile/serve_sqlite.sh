# Sourced by the hostile-input scripts: takes the binary ($HEALTHCARE_BIN, else a debug build
# in $target), starts it on a fresh SQLite file in a temporary folder and sets:
#   work        the temporary folder (server.out, server.err, the database)
#   server_pid  the server process, stopped (and $work removed) when the script exits
#   base        http://127.0.0.1:PORT
# Needs `target` set. Usage: serve_sqlite NAME   (the database file is $work/NAME.db)
serve_sqlite() {
    if [ -n "${HEALTHCARE_BIN:-}" ]; then
        bin="$HEALTHCARE_BIN"
    else
        cargo build --quiet -p healthcare-api --bin healthcare
        bin="$target/debug/healthcare"
    fi
    work=$(mktemp -d)
    server_pid=""
    trap '
        if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
        rm -rf "$work"' EXIT
    DATABASE_URL="sqlite://$work/$1.db" HEALTHCARE_BIND=127.0.0.1:0 BCRYPT_COST=4 RUST_LOG=error \
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
