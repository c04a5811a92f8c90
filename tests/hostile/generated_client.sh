#!/usr/bin/env bash
# A client generated from the served OpenAPI 3.1 document by a mainstream generator works: the
# real binary is started, /api/schema/ is fetched, OpenAPI Generator (pinned; generator
# `python`, a pydantic v2 + urllib3 client) generates a client from it, and
# tests/hostile/generated_client_walkthrough.py drives the seed's walk-through (README.md)
# through that client's API classes, checking every typed answer, first on SQLite, then on
# PostgreSQL (a throwaway database, dropped at exit; never skipped). It fails when the generator
# fails or prints any warning or error other than the known ones below, which are about the
# generator itself and not about the document, when the document served on PostgreSQL differs
# from the one served on SQLite, or when a step of the walk-through is not as documented.
# Negative control: a copy of the document whose `Doctor` (the answer of doctors_create) has its
# required `license_number` renamed is generated too, and the walk-through driven by that client
# must fail at that answer, naming the field, so a script that passes anything fails; and the
# log check must refuse an unknown warning, and the known message from another caller.
#
#   tests/hostile/generated_client.sh
#
# Environment: CARGO_TARGET_DIR (default target/), HEALTHCARE_BIN (default: build
# target/debug/healthcare), TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres;
# the PostgreSQL server the throwaway database is made on). Needs Java 11 or later (`java`). The
# virtualenv lives in $CARGO_TARGET_DIR/generated-client-venv; the generator's log of the last
# run in $CARGO_TARGET_DIR/generated-client-generator.log.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
case "${CARGO_TARGET_DIR:-}" in /*|"") ;; *) CARGO_TARGET_DIR="$root/$CARGO_TARGET_DIR" ;; esac
target="${CARGO_TARGET_DIR:-$root/target}"
export TEST_DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
venv="$target/generated-client-venv"
started=$SECONDS

# OpenAPI Generator 7.17.0 as its PyPI package (which bundles the generator's jar); the runtime
# dependencies of the client it generates (its pyproject asks for urllib3 >=2.1,<3,
# python-dateutil >=2.8.2, pydantic >=2, typing-extensions >=4.7.1) and theirs; setuptools, which
# builds the generated package. All pinned.
pins=(
    openapi-generator-cli==7.17.0
    pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5
    typing-extensions==4.16.0 urllib3==2.8.0 python-dateutil==4.0.0 tzdata==2026.6
    setuptools==84.2.1
)
installed() {
    "$venv/bin/python" - "${pins[@]}" <<'PY' 2>/dev/null
import importlib.metadata as m, sys
for pin in sys.argv[1:]:
    name, version = pin.split("==")
    if m.version(name) != version:
        sys.exit(1)
PY
}
if ! installed; then
    echo "== installing ${pins[*]} into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "${pins[@]}"
fi
if ! installed; then
    echo "FATAL: the pinned packages (${pins[*]}) are not installed in $venv" >&2
    exit 1
fi
jar=$("$venv/bin/python" -c 'import importlib.resources as r; print(r.files("openapi_generator_cli") / "openapi-generator.jar")')
[ -f "$jar" ] || { echo "FATAL: the generator's jar is missing: $jar" >&2; exit 1; }
command -v java >/dev/null 2>&1 || { echo "FATAL: java (11 or later) is needed by OpenAPI Generator" >&2; exit 1; }
java_major=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1)
if [ -z "$java_major" ] || [ "$java_major" -lt 11 ]; then
    java -version >&2 || true
    echo "FATAL: OpenAPI Generator needs Java 11 or later" >&2
    exit 1
fi
echo "OpenAPI Generator $(java -jar "$jar" version) (generator python), Java $java_major"

# shellcheck source=tests/hostile/serve_sqlite.sh
source "$root/tests/hostile/serve_sqlite.sh"

admin_username="gc-admin"
admin_password="generated client admin $RANDOM$RANDOM"
# The only account of a fresh database: an admin made by the operator command (docs/operations.md).
create_admin() {
    printf '%s\n' "$admin_password" | DATABASE_URL="$database_url" BCRYPT_COST=4 RUST_LOG=error \
        "$bin" create-user --username "$admin_username" --role admin --email admin@example.org --password-stdin
}
check_server_log() {
    if grep -qiE 'panicked|internal error' "$work/server.err"; then
        grep -iE 'panicked|internal error' "$work/server.err" | head -n 20 >&2
        echo "FATAL: the server logged panics or internal errors ($1)" >&2
        exit 1
    fi
}
walkthrough() { # TAG; the generated client on PYTHONPATH when one is set
    printf '%s\n' "$admin_password" | "$venv/bin/python" "$root/tests/hostile/generated_client_walkthrough.py" \
        "$base" "$admin_username" "$1"
}


sqlite_database negative
create_admin
serve_database
echo "server on $base (SQLite)"
fetch_document "$venv/bin/python" "$work/openapi.json"
"$venv/bin/python" - "$work/openapi.json" "$work/broken.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
# The schema of doctors_create's 201 answer: its required `license_number` becomes `licence_number`.
ops = {op.get("operationId"): op for item in doc["paths"].values() for op in item.values()
       if isinstance(op, dict) and "responses" in op}
try:
    ref = ops["doctors_create"]["responses"]["201"]["content"]["application/json"]["schema"]["$ref"]
    schema = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
    props, required = schema["properties"], schema["required"]
except (KeyError, TypeError) as e:
    sys.exit(f"FATAL: the negative control needs doctors_create to answer 201 with a $ref to a schema with properties and required ({e!r})")
if "license_number" not in props or "license_number" not in required:
    sys.exit("FATAL: the negative control needs a required license_number in the answer of doctors_create")
props["licence_number"] = props.pop("license_number")
schema["required"] = ["licence_number" if r == "license_number" else r for r in required]
json.dump(doc, open(sys.argv[2], "w"))
PY

# The generator's log: logback's own format plus the two innermost callers of each line, and
# every occurrence of a message (its "once" logger would print a repeated warning only once).
cat >"$work/logback.xml" <<'XML'
<configuration>
  <appender name="STDOUT" class="ch.qos.logback.core.ConsoleAppender">
    <encoder><pattern>[%thread] %-5level %logger{36} - %msg%replace( | %caller{2}){'\s+', ' '}%n</pattern></encoder>
  </appender>
  <root level="info"><appender-ref ref="STDOUT"/></root>
</configuration>
XML
# The jar is run by `java` itself: the package's `openapi-generator-cli` command exits 0 even when
# the generator fails.
generate() { # DOCUMENT OUT LOG
    local status=0
    java -Dorg.openapitools.codegen.utils.oncelogger.enabled=false \
        -Dlogback.configurationFile="$work/logback.xml" \
        -jar "$jar" generate -i "$1" -g python -o "$2" --package-name healthcare_client \
        --global-property apiTests=false,modelTests=false,apiDocs=false,modelDocs=false \
        >"$3" 2>&1 || status=$?
    if [ "$status" -ne 0 ] || [ ! -f "$2/healthcare_client/__init__.py" ]; then
        cat "$3" >&2
        echo "FATAL: OpenAPI Generator failed on $1 (exit $status)" >&2
        exit 1
    fi
}
# Every WARN or ERROR line of the generator fails the run, except these, which say nothing about
# the document (counted and printed, so a change shows):
# - "OpenAPI 3.1 support is still in beta. ...": the generator's own status, printed for every
#   3.1 document (DefaultCodegen.setOpenAPI).
# - "Failed to get the schema name: null" when it comes from AbstractPythonCodegen.toDefaultValue
#   or OpenAPINormalizer.isSelfReference: both hand ModelUtils.getSimpleRef the `$ref` of a
#   schema that has none (every property and parameter; the inline value schema of every map or
#   array), so it is printed for any document with one object property, e.g.
#   {"type": "object", "properties": {"a": {"type": "string"}}}. The same message from any
#   other caller fails the run.
# - "No application/json content media type found in response. ...": printed by
#   ExamplesUtils.getExamplesFromContent once for each response whose content has no JSON media
#   type (the `text/calendar` feeds): accepted exactly as many times as DOCUMENT has such
#   responses, no more.
check_generator_log() { # LOG [DOCUMENT]
    "$venv/bin/python" - "$1" "${2:-}" <<'PY'
import collections, json, re, sys
BETA = ("OpenAPI 3.1 support is still in beta. To report an issue related to 3.1 spec, please "
        "kindly open an issue in the Github repo: https://github.com/openAPITools/openapi-generator.")
NULL_REF = "Failed to get the schema name: null"
NULL_REF_CALLERS = ("org.openapitools.codegen.languages.AbstractPythonCodegen.toDefaultValue(",
                    "org.openapitools.codegen.OpenAPINormalizer.isSelfReference(")
line_re = re.compile(r"^\[[^\]]*\] (WARN|ERROR)\s+(\S+) - (.*?) \| Caller\+0 at (\S+) Caller\+1 at (\S+)\s*$")
NOT_JSON = ("No application/json content media type found in response. Response examples can "
            "currently only be generated for application/json media type.")
not_json_responses = 0
if sys.argv[2]:
    document = json.load(open(sys.argv[2], encoding="utf-8"))
    for item in document.get("paths", {}).values():
        for operation in item.values():
            if not isinstance(operation, dict):
                continue
            for response in operation.get("responses", {}).values():
                content = response.get("content") or {}
                if content and "application/json" not in content:
                    not_json_responses += 1
known, bad = collections.Counter(), []
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    line = line.rstrip("\n")
    # logback lines at WARN or ERROR; the command line's own "[error] ..." / "[WARNING] ..." lines.
    if not re.match(r"^\[[^\]]*\] (WARN|ERROR)\b|^\[(warn|warning|error)\]|^Exception in thread", line, re.I):
        continue
    m = line_re.match(line)
    if m and m.group(1) == "WARN" and m.group(3) == BETA and m.group(2).endswith("DefaultCodegen"):
        known["the generator's own 3.1 beta notice"] += 1
    elif (m and m.group(1) == "WARN" and m.group(3) == NOT_JSON
          and m.group(4).startswith("org.openapitools.codegen.utils.ExamplesUtils.getExamplesFromContent(")
          and known["a response without a JSON media type"] < not_json_responses):
        known["a response without a JSON media type"] += 1
    elif m and m.group(1) == "WARN" and m.group(3) == NULL_REF and m.group(5).startswith(NULL_REF_CALLERS):
        caller = m.group(5).split("(")[0].rsplit(".", 2)
        known[f"{NULL_REF!r} from {caller[-2]}.{caller[-1]}"] += 1
    else:
        bad.append(line)
for what, n in sorted(known.items()):
    print(f"generator warning (known, not about the document): {n} x {what}")
if bad:
    print("\n".join(bad[:50]), file=sys.stderr)
    sys.exit(f"FATAL: OpenAPI Generator printed {len(bad)} other warning or error line(s) (above)")
PY
}

# The filter's own negative control: a warning it does not know, the known message from
# another caller, and the JSON-less response notice with no such response in a document, must
# each fail the check.
for line in "[main] WARN  o.o.codegen.DefaultCodegen - Unknown type found in the schema | Caller+0 at a.B.c(B.java:1) Caller+1 at a.D.e(D.java:2)" \
    "[main] WARN  o.o.codegen.utils.ModelUtils - Failed to get the schema name: null | Caller+0 at org.openapitools.codegen.utils.ModelUtils.getSimpleRef(ModelUtils.java:387) Caller+1 at org.openapitools.codegen.DefaultCodegen.fromProperty(DefaultCodegen.java:1)" \
    "[main] WARN  o.o.codegen.utils.ExamplesUtils - No application/json content media type found in response. Response examples can currently only be generated for application/json media type. | Caller+0 at org.openapitools.codegen.utils.ExamplesUtils.getExamplesFromContent(ExamplesUtils.java:48) Caller+1 at org.openapitools.codegen.utils.ExamplesUtils.getExamplesFromResponse(ExamplesUtils.java:31)"; do
    printf '%s\n' "$line" >"$work/fake-generator.log"
    if check_generator_log "$work/fake-generator.log" >/dev/null 2>&1; then
        echo "FATAL: the generator log check accepted: $line" >&2
        exit 1
    fi
done

echo "== generating the client from the served document"
log="$target/generated-client-generator.log"
generate "$work/openapi.json" "$work/client" "$log"
check_generator_log "$log" "$work/openapi.json"
echo "== generating the negative control's client (Doctor.license_number renamed)"
generate "$work/broken.json" "$work/broken-client" "$work/broken-generator.log"

echo "== negative control: the walk-through through the broken client must fail at doctors_create"
set +e
PYTHONPATH="$work/broken-client" walkthrough negative >"$work/negative.log" 2>&1
status=$?
set -e
last_step=$(grep '^== ' "$work/negative.log" | tail -n1)
if [ "$status" -eq 0 ] || ! grep -qF "generated client: $work/broken-client/healthcare_client/" "$work/negative.log" \
    || ! grep -q '^   auth_token_obtain -> 200 ' "$work/negative.log" \
    || [ "$last_step" != "== the admin creates a doctor (doctors_create)" ] \
    || ! grep -q 'licence_number' "$work/negative.log"; then
    cat "$work/negative.log" >&2
    echo "FATAL: the walk-through did not fail at the renamed field of the broken client (exit $status, last step: $last_step)" >&2
    exit 1
fi
echo "refused (exit $status) at '${last_step#== }': $(grep -m1 -A1 '^licence_number' "$work/negative.log" | tr -s ' \n' ' ')"
check_server_log "negative control"
stop_server

echo "== installing the generated client into $venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps --no-build-isolation --force-reinstall "$work/client"
"$venv/bin/pip" check --disable-pip-version-check

echo "== walk-through through the generated client: SQLite"
sqlite_database walkthrough
create_admin
serve_database
echo "server on $base (SQLite)"
walkthrough sqlite || { echo "FATAL: the walk-through through the generated client failed on SQLite (above)" >&2; exit 1; }
check_server_log "SQLite"
stop_server

echo "== walk-through through the generated client: PostgreSQL"
postgres_database walkthrough
create_admin
serve_database
echo "server on $base (PostgreSQL, database ${database_url##*/})"
fetch_document "$venv/bin/python" "$work/openapi-postgres.json"
if ! cmp -s "$work/openapi.json" "$work/openapi-postgres.json"; then
    diff <("$venv/bin/python" -m json.tool "$work/openapi.json") \
        <("$venv/bin/python" -m json.tool "$work/openapi-postgres.json") | head -n 40 >&2 || true
    echo "FATAL: the document served on PostgreSQL differs from the one served on SQLite" >&2
    exit 1
fi
walkthrough postgres || { echo "FATAL: the walk-through through the generated client failed on PostgreSQL (above)" >&2; exit 1; }
check_server_log "PostgreSQL"
stop_server

echo "generated client: the walk-through passed on SQLite and PostgreSQL ($((SECONDS - started)) s)"
