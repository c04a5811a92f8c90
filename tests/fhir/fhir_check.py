"""Checks the FHIR R4 facade with two independent FHIR R4 (4.0.1) libraries, `fhir.resources` (pydantic
models) and SMART on FHIR's `fhirclient`, for the FHIR tests. Prints one JSON object and exits 0 whatever
it finds (non-zero only on a usage error).
validate: reads a JSON array of resources from standard input and validates each with both libraries
  (Bundle entries are validated as their own resource types by both), checks coded elements against the
  value sets fhir.resources models, and checks that neither library drops a top-level key (of an item or
  of a Bundle entry's resource). Prints {"checked", "invalid": [{index, resourceType, id, library, error}],
  "by_type"}, where library is "fhir.resources", "fhirclient", "valueset" or "roundtrip".
client: runs each QUERY (e.g. 'Appointment?date=ge2026-12-01&date=lt2027-01-01&_count=2'; repeated
  parameters are kept) through fhirclient's search API against BASE with `Authorization: Bearer TOKEN`,
  follows the Bundles' absolute `next` links page by page (at most 200 pages), and validates every page
  as above. Prints {"results": [{query, pages, total, ids, fullUrls_ok, self_links, errors}]}.
usage: fhir_check.py validate < resources.json
       fhir_check.py client BASE TOKEN QUERY [QUERY ...]
"""
import importlib
import json
import re
import sys
from urllib.parse import parse_qsl

import pydantic
from fhir.resources import construct_fhir_element
from fhir.resources.fhirabstractmodel import FHIRAbstractModel
from fhirclient.models.fhirsearch import FHIRSearch, FHIRSearchParam
from fhirclient.server import FHIRServer

# fhir.resources records each code element's value set as `enum_values` but pydantic does not enforce it
# (and fhirclient checks no codes at all), so the "valueset" check does. These two lists are not value sets
# (they are parsed from the element's short description; R4 allows any MIME type / expression language).
NOT_VALUE_SETS = {("CapabilityStatement", "format"), ("Expression", "language")}


def short(e):
    if isinstance(e, pydantic.ValidationError):
        msg = "; ".join(".".join(map(str, x["loc"])) + ": " + x["msg"] for x in e.errors())
    else:
        msg = " ".join(str(e).split())
    return re.sub(r" object at 0x[0-9a-f]+", "", msg)[:500]


def obj(x):
    return x if isinstance(x, dict) else {}


def fhirclient_class(resource_type):
    if not isinstance(resource_type, str) or not re.fullmatch(r"[A-Z][A-Za-z]+", resource_type):
        raise ValueError(f"bad resourceType {resource_type!r}")
    return getattr(importlib.import_module("fhirclient.models." + resource_type.lower()), resource_type)


def bad_codes(model, path):
    """Codes in a validated fhir.resources model (nested elements and Bundle entries too) that are not
    in the value set the model declares for their element."""
    for name, field in model.__fields__.items():
        value = getattr(model, name)
        values = value if isinstance(value, list) else [] if value is None else [value]
        allowed = field.field_info.extra.get("enum_values")
        for i, v in enumerate(values):
            where = f"{path}.{field.alias}" + (f"[{i}]" if isinstance(value, list) else "")
            if allowed and (type(model).__name__, field.alias) not in NOT_VALUE_SETS and v not in allowed:
                yield f"{where}: {v!r} not in {allowed}"
            if isinstance(v, FHIRAbstractModel):
                yield from bad_codes(v, where)


def key_diff(src, out, skip_underscore=False):
    """Top-level keys the library dropped (or added) when writing the resource back out."""
    src = {k for k in src if not (skip_underscore and k.startswith("_"))}  # fhirclient never writes _x
    return sorted(src - set(out)), sorted(set(out) - src)


def check(item):
    """[(library, error)] for one resource (a Bundle with its entries)."""
    errors, outputs = [], {}
    if not isinstance(item, dict):
        return [("fhir.resources", "not a JSON object")]
    rt = item.get("resourceType")
    try:
        model = construct_fhir_element(rt, item)
        outputs["fhir.resources"] = model.dict()
        errors += [("valueset", msg) for msg in bad_codes(model, rt)]
    except Exception as e:
        errors.append(("fhir.resources", short(e)))
    try:
        outputs["fhirclient"] = fhirclient_class(rt)(jsondict=item, strict=True).as_json()
    except Exception as e:
        errors.append(("fhirclient", short(e)))
    for lib, out in outputs.items():
        pairs = [("", item, out)]
        if rt == "Bundle":
            pairs += [(f"entry[{i}].resource ", obj(obj(e).get("resource")), obj(obj(o).get("resource")))
                      for i, (e, o) in enumerate(zip(item.get("entry") or [], out.get("entry") or []))]
        for where, src, dst in pairs:
            dropped, added = key_diff(src, dst, skip_underscore=lib == "fhirclient")
            if dropped or added:
                errors.append(("roundtrip", f"{lib} {where}dropped {dropped} added {added}"))
    return errors


def validate():
    items = json.load(sys.stdin)
    if not isinstance(items, list):
        sys.exit("validate: standard input must be a JSON array of resources")
    invalid, by_type = [], {}
    for index, item in enumerate(items):
        d = obj(item)
        entries = d.get("entry") if d.get("resourceType") == "Bundle" and isinstance(d.get("entry"), list) else []
        types = [d.get("resourceType")] + [obj(e).get("resource")["resourceType"] for e in entries
                                           if "resourceType" in obj(obj(e).get("resource"))]
        for t in types:
            by_type[str(t)] = by_type.get(str(t), 0) + 1
        invalid += [{"index": index, "resourceType": d.get("resourceType"), "id": d.get("id"),
                     "library": lib, "error": err} for lib, err in check(item)]
    return {"checked": len(items), "invalid": invalid, "by_type": by_type}


class RecordingServer(FHIRServer):
    """fhirclient's FHIRServer, keeping the raw JSON of the last response for the checks."""
    last = None

    def request_json(self, path, nosign=False):
        self.last = None
        self.last = super().request_json(path, nosign=nosign)
        return self.last


def run_query(server, query):
    res = {"query": query, "pages": 0, "total": None, "ids": [], "fullUrls_ok": True,
           "self_links": [], "errors": []}

    def take(page):  # one raw searchset page
        server.last = None
        res["pages"] += 1
        page = obj(page)
        if res["pages"] == 1:
            res["total"] = page.get("total")
        res["self_links"] += [obj(l).get("url") for l in page.get("link") or [] if obj(l).get("relation") == "self"]
        for entry in map(obj, page.get("entry") or []):
            r = obj(entry.get("resource"))
            ref = f"{r.get('resourceType')}/{r.get('id')}"
            res["ids"].append(ref)
            full = str(entry.get("fullUrl"))
            res["fullUrls_ok"] &= full == ref or full.endswith("/" + ref)
        res["errors"] += [f"page {res['pages']}: {lib}: {err}" for lib, err in check(page)]

    resource_type, _, qs = query.partition("?")
    try:
        search = FHIRSearch(fhirclient_class(resource_type))
        # Set the params directly (no struct expansion) so order and repeated parameters are kept;
        # fhirclient percent-encodes each value when it builds the URL.
        search.params = [FHIRSearchParam(k, v) for k, v in parse_qsl(qs, keep_blank_values=True)]
        for _bundle in search.perform_iter(server):  # strict Bundle per page, follows link[next]
            take(server.last)
            if res["pages"] >= 200:
                res["errors"].append("stopped after 200 pages")
                break
    except Exception as e:
        response = getattr(e, "response", None)
        if response is not None:
            res["errors"].append(f"HTTP {response.status_code}: {response.text[:500]}")
        elif server.last is not None:  # fhirclient rejected this page: check() says why
            take(server.last)
            res["errors"].append(f"paging stopped: fhirclient could not parse page {res['pages']}")
        else:
            res["errors"].append(f"fhirclient: {type(e).__name__}: {short(e)}")
    return res


def client(base, token, queries):
    # No SMART flow: an OAuth2 auth object that already holds the access token signs every request
    # with `Authorization: Bearer TOKEN`; the CapabilityStatement is never fetched.
    server = RecordingServer(None, base_uri=base, state={"auth_type": "oauth2", "auth": {"access_token": token}})
    return {"results": [run_query(server, q) for q in queries]}


if __name__ == "__main__":
    args = sys.argv[1:]
    if args == ["validate"]:
        print(json.dumps(validate()))
    elif len(args) >= 4 and args[0] == "client":
        print(json.dumps(client(args[1], args[2], args[3:])))
    else:
        sys.exit(__doc__[__doc__.index("usage:"):])
