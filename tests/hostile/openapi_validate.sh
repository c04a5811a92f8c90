#!/usr/bin/env bash
# The served OpenAPI document, checked by an independent OpenAPI 3.1 validator: the real binary
# is started on a temporary SQLite file, /api/schema/ is fetched, and openapi-spec-validator
# (pinned, in its own virtualenv) validates it against the OpenAPI 3.1 specification (structure,
# JSON Schema 2020-12 schemas, path parameters, unique operationIds, references). Any error it
# reports fails the script (non-zero exit); nothing here is ever skipped. A broken copy of the
# document (no `info`, two operations with one operationId) is validated first and must be
# refused for both, so a validator that accepts anything, or skips its own checks, fails too.
#
#   tests/hostile/openapi_validate.sh
#
# Environment: CARGO_TARGET_DIR (default target/), HEALTHCARE_BIN (default: build
# target/debug/healthcare). The virtualenv lives in $CARGO_TARGET_DIR/openapi-validator-venv.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
case "${CARGO_TARGET_DIR:-}" in /*|"") ;; *) CARGO_TARGET_DIR="$root/$CARGO_TARGET_DIR" ;; esac
target="${CARGO_TARGET_DIR:-$root/target}"
venv="$target/openapi-validator-venv"
version="0.9.0"

installed() {
    "$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("openapi-spec-validator"))' 2>/dev/null || true
}
if [ "$(installed)" != "$version" ]; then
    echo "== installing openapi-spec-validator $version into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "openapi-spec-validator==$version"
fi
if [ "$(installed)" != "$version" ]; then
    echo "FATAL: openapi-spec-validator $version is not installed in $venv" >&2
    exit 1
fi
echo "openapi-spec-validator $(installed)"

# shellcheck source=tests/hostile/serve_sqlite.sh
source "$root/tests/hostile/serve_sqlite.sh"
serve_sqlite openapi

# The document exactly as served, and a broken copy (no `info`, the first two operations with
# one operationId) for the negative control.
fetch_document "$venv/bin/python" "$work/openapi.json"
"$venv/bin/python" - "$work" <<'PY'
import json, sys
work = sys.argv[1]
with open(f"{work}/openapi.json", "rb") as f:
    broken = json.load(f)
del broken["info"]
ops = [op for item in broken["paths"].values() for op in item.values()
       if isinstance(op, dict) and "responses" in op]
if len(ops) < 2:
    sys.exit(f"FATAL: the served document has {len(ops)} operations")
ops[1]["operationId"] = ops[0].get("operationId", "same")
ops[0]["operationId"] = ops[1]["operationId"]
with open(f"{work}/broken.json", "w") as f:
    json.dump(broken, f)
PY

validate() {
    "$venv/bin/openapi-spec-validator" --schema 3.1 --validation-errors all --subschema-errors all "$1"
}

echo "== negative control: a broken copy of the document must be refused"
set +e
validate "$work/broken.json" >"$work/broken.log" 2>&1
status=$?
set -e
if [ "$status" -eq 0 ] || ! grep -q "'info' is a required property" "$work/broken.log" \
    || ! grep -q "is not unique" "$work/broken.log"; then
    cat "$work/broken.log" >&2
    echo "FATAL: the validator did not refuse a document without info and with a duplicate operationId (exit $status)" >&2
    exit 1
fi
echo "refused (exit $status): no info, duplicate operationId, as it must be"

echo "== validating the served document ($base/api/schema/) as OpenAPI 3.1"
set +e
validate "$work/openapi.json" 2>&1 | tee "$target/openapi-validate.log"
status=${PIPESTATUS[0]}
set -e
if [ "$status" -ne 0 ]; then
    echo "FATAL: openapi-spec-validator $version found errors in the served document (exit $status); see $target/openapi-validate.log" >&2
    exit "$status"
fi
if grep -qiE 'panicked|internal error' "$work/server.err"; then
    grep -iE 'panicked|internal error' "$work/server.err" | head -n 20 >&2
    echo "FATAL: the server logged panics or internal errors" >&2
    exit 1
fi
echo "openapi-spec-validator $version: the served document is valid OpenAPI 3.1"
