"""Derive the compact Loket resource catalogue from the published OpenAPI description.

Usage::

    python scripts/derive_catalog.py [--spec ../shared/specs/loket-openapi.json]
                                     [--out loketvalinso/_data/loket_catalog.json] [--check]

The package never reads the 6 MB description; it reads only the derived
``loketvalinso/_data/loket_catalog.json`` written here (committed). Re-running this script on the
same description yields the same bytes (``--check`` exits 1 when the committed file differs).

Catalogue format (``"format": 2``)::

    {
      "format": 2,
      "source": {"file": "loket-openapi.json", "sha256": "...", "info_version": "V2"},
      "nodes": [[...], ...],          # interned object property lists (see below)
      "endpoints": [ {entry}, ... ],  # one per GET operation, sorted by path
      "writes": [ {write}, ... ]      # one per POST/PUT/PATCH/DELETE operation, by path, method
    }

An entry::

    {"path": "/providers/employers/{employerId}/employees",   # cleaned template
     "spec_path": "...",            # only when the spec's key differs (trailing '"', typo)
     "operation_id": "GetEmployeesByEmployerId" | null,
     "tag": "Employee",
     "kind": "json" | "binary",
     "envelope": "embedded" | "embedded_object" | "content" | "content_list" | "bare" | null,
     "paging": true, "etag": false,
     "path_params": [[name, type, format, column, spec_name|null], ...],
     "query_params": [[name, type, format, required(0/1), array(0/1)], ...],
     "versions": ["2018-12-31", "2021-03-29"],       # real dates, sorted
     "undated_versions": ["YYYY-MM-DD"],              # non-date labels (placeholder, SSO_gebruiker)
     "media_types": ["application/pdf"],              # non-JSON 200 content types
     "schemas": {"2018-12-31": node, ...}}           # item schema per version label

A write::

    {"method": "PUT",
     "path": "/providers/employers/employees/employments/leaverequests/{leaveRequestId}",
     "operation_id": "PutLeaveRequestByLeaveRequestId", "tag": "Leave request",
     "path_params": [...], "query_params": [...],   # as for a GET entry
     "headers": ["X-ValidateOnly"],                  # header parameters besides Authorization/Accept
     "body": "json" | "multipart" | null,            # the request body's media (null: none)
     "versions": ["2018-01-01"], "undated_versions": [],   # request body versions
     "response_versions": ["2018-01-01"],            # of the success response (may be empty)
     "success": [200],                               # documented 2xx statuses
     "etag": false,                                  # the success response declares ETag
     "required": {"2018-01-01": ["id", "action"]},   # required fields of the body root (or items)
     "schemas": {"2018-01-01": node}}                # request body schema per version

A field node is a list ``[name, type, format, nullable, extra]``: ``type`` is one of ``string``,
``integer``, ``number``, ``boolean``, ``object``, ``array``, ``any``; ``format`` is the normalised
format or ``null`` (``metaData`` → ``metadata``, ``pattern: "date"`` → ``date``); ``nullable`` is
0/1 (the spec's explicit flag); ``extra`` is, for an object, an int index into ``nodes`` (its
property list), for an array, the item node, for an enum string, ``{"enum": [...]}``, else
``null``. Schemas' root nodes are named ``""``. Request body nodes carry a sixth element, ``1``,
when the field is ``readOnly`` (sent by the server, ignored or refused in a request).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SPEC = ROOT.parent / "shared" / "specs" / "loket-openapi.json"
DEFAULT_OUT = ROOT / "loketvalinso" / "_data" / "loket_catalog.json"

PAGING_KEYS = ("currentPage", "pageSize", "totalPages", "totalSize")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
#: Path parameter spelling errors in the spec, mapped to what they mean.
PARAM_TYPOS = {"employmerId": "employerId"}
FORMAT_ALIASES = {"metaData": "metadata", "JSON": "json"}


def snake(name: str) -> str:
    """``employerId`` → ``employer_id``; ``IBAN`` → ``iban``; ``Key`` → ``key``."""
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    return re.sub(r"[^0-9a-zA-Z]+", "_", s).strip("_").lower()


def merge_all_of(schema: dict[str, Any]) -> dict[str, Any]:
    """Flatten ``allOf`` parts into one object schema (the spec has no ``$ref``)."""
    if "allOf" not in schema:
        return schema
    props: dict[str, Any] = {}
    nullable = schema.get("nullable")
    fmt = schema.get("format")
    for part in schema["allOf"]:
        part = merge_all_of(part)
        props.update(part.get("properties", {}))
        fmt = fmt or part.get("format")
        if part.get("nullable") is not None and nullable is None:
            nullable = part.get("nullable")
    out: dict[str, Any] = {"type": "object", "properties": props}
    if nullable is not None:
        out["nullable"] = nullable
    if fmt:
        out["format"] = fmt
    return out


def schema_type(schema: dict[str, Any]) -> str:
    """The JSON type of a schema node, inferred when ``type`` is missing."""
    t = schema.get("type")
    if t in ("string", "integer", "number", "boolean", "array"):
        return t
    if t == "object" or "properties" in schema:
        return "object" if schema.get("properties") else "any"
    if "items" in schema:
        return "array"
    fmt = schema.get("format")
    if fmt in ("int32", "int64"):
        return "integer"
    if fmt in ("double", "float"):
        return "number"
    ex = schema.get("example")
    if isinstance(ex, bool):
        return "boolean"
    if isinstance(ex, int):
        return "integer"
    if isinstance(ex, float):
        return "number"
    if isinstance(ex, str):
        return "string"
    return "any"


class Interner:
    def __init__(self) -> None:
        self.nodes: list[list[Any]] = []
        self.index: dict[str, int] = {}

    def add(self, props: list[Any]) -> int:
        key = json.dumps(props, separators=(",", ":"))
        if key not in self.index:
            self.index[key] = len(self.nodes)
            self.nodes.append(props)
        return self.index[key]


def node(
    name: str, schema: dict[str, Any], interner: Interner, *, read_only: bool = False
) -> list[Any]:
    """A field node; with ``read_only``, ``readOnly`` fields carry a sixth element ``1``."""
    schema = merge_all_of(schema)
    t = schema_type(schema)
    fmt = schema.get("format")
    if fmt is None and schema.get("pattern") == "date":
        fmt = "date"
    if fmt is not None:
        fmt = FORMAT_ALIASES.get(fmt, fmt)
    if t in ("string", "integer", "number", "boolean") and fmt == "metadata":
        fmt = None  # a scalar marked "metadata": nothing to collapse
    nullable = 1 if schema.get("nullable") is True else 0
    extra: Any = None
    if t == "object":
        children = [
            node(k, v, interner, read_only=read_only) for k, v in schema["properties"].items()
        ]
        extra = interner.add(children)
    elif t == "array":
        extra = node("", schema.get("items") or {}, interner, read_only=read_only)
    elif schema.get("enum"):
        extra = {"enum": list(schema["enum"])}
    out = [name, t, fmt, nullable, extra]
    if read_only and schema.get("readOnly") is True:
        out.append(1)
    return out


def param_entry(p: dict[str, Any]) -> tuple[str, str, str | None, int, int]:
    sch = p.get("schema") or {}
    array = sch.get("type") == "array"
    inner = sch.get("items", {}) if array else sch
    fmt = inner.get("format")
    if fmt is None and inner.get("pattern") == "date":
        fmt = "date"
    return (p["name"], schema_type(inner), fmt, int(bool(p.get("required"))), int(array))


def clean_path(spec_path: str) -> str:
    """The template without the spec's typos (a trailing ``"``, ``{employmerId}``)."""
    path = spec_path.rstrip('"')
    for bad, good in PARAM_TYPOS.items():
        path = path.replace("{" + bad + "}", "{" + good + "}")
    return path


def path_param_entries(spec_path: str, params: list[dict[str, Any]]) -> list[list[Any]]:
    out = []
    for name in re.findall(r"\{([^}]+)\}", spec_path.rstrip('"')):
        p: dict[str, Any] = next(
            (x for x in params if x.get("in") == "path" and x["name"] == name), {}
        )
        sch = p.get("schema") or {}
        clean = PARAM_TYPOS.get(name, name)
        out.append(
            [clean, schema_type(sch) if sch else "string", sch.get("format"), snake(clean)]
            + ([name] if clean != name else [])
        )
    return out


def media_version(ctype: str) -> str | None:
    """The version label of a JSON media type (``applicationjson;…`` is the spec's typo)."""
    base, _, rest = ctype.partition(";")
    if base.strip() not in ("application/json", "applicationjson"):
        return None
    return rest.partition("version=")[2] or "unversioned"


def derive_write(
    spec_path: str, method: str, ops: dict[str, Any], interner: Interner
) -> dict[str, Any]:
    op = ops[method]
    params = list(ops.get("parameters", [])) + list(op.get("parameters", []))
    headers = sorted(
        p["name"]
        for p in params
        if p.get("in") == "header" and p["name"] not in ("Authorization", "Accept")
    )
    body_kind = None
    versions: list[str] = []
    undated: list[str] = []
    schemas: dict[str, Any] = {}
    required: dict[str, list[str]] = {}
    for ctype, c in ((op.get("requestBody") or {}).get("content") or {}).items():
        label = media_version(ctype)
        if label is None:
            body_kind = body_kind or ("multipart" if ctype.startswith("multipart/") else "binary")
            continue
        body_kind = "json"
        (versions if DATE_RE.match(label) else undated).append(label)
        root = merge_all_of(c.get("schema") or {})
        schemas[label] = node("", root, interner, read_only=True)
        items = merge_all_of(root.get("items") or {}) if schema_type(root) == "array" else root
        if items.get("required"):
            required[label] = list(items["required"])
    responses = op.get("responses", {})
    success = sorted(int(code) for code in responses if code.startswith("2"))
    response_versions: set[str] = set()
    etag = False
    for code in success:
        answer = responses[str(code)]
        etag = etag or any(h.lower() == "etag" for h in answer.get("headers", {}) or {})
        for ctype in answer.get("content", {}) or {}:
            label = media_version(ctype)
            if label is not None and DATE_RE.match(label):
                response_versions.add(label)
    entry: dict[str, Any] = {
        "method": method.upper(),
        "path": clean_path(spec_path),
        "operation_id": op.get("operationId"),
        "tag": (op.get("tags") or [None])[0],
        "path_params": path_param_entries(spec_path, params),
        "query_params": [list(param_entry(p)) for p in params if p.get("in") == "query"],
        "headers": headers,
        "body": body_kind,
        "versions": sorted(versions),
        "undated_versions": sorted(undated),
        "response_versions": sorted(response_versions),
        "success": success,
        "etag": etag,
        "required": {k: required[k] for k in sorted(required)},
        "schemas": {k: schemas[k] for k in sorted(schemas)},
    }
    if spec_path != entry["path"]:
        entry["spec_path"] = spec_path
    return entry


WRITE_METHODS = ("post", "put", "patch", "delete")


def derive(spec: dict[str, Any], digest: str) -> dict[str, Any]:
    interner = Interner()
    endpoints = []
    writes = []
    for spec_path, ops in spec["paths"].items():
        writes += [derive_write(spec_path, m, ops, interner) for m in WRITE_METHODS if m in ops]
        op = ops.get("get")
        if op is None:
            continue
        path = clean_path(spec_path)
        params = list(ops.get("parameters", [])) + list(op.get("parameters", []))
        path_params = path_param_entries(spec_path, params)
        query = [list(param_entry(p)) for p in params if p.get("in") == "query"]
        resp = op.get("responses", {}).get("200", {})
        contents = resp.get("content", {}) or {}
        versions: list[str] = []
        undated: list[str] = []
        schemas: dict[str, Any] = {}
        media: list[str] = []
        envelope = None
        paging = any(q[0] == "pageNumber" for q in query)
        for ctype, c in contents.items():
            if not ctype.startswith("application/json"):
                media.append(ctype)
                continue
            label = ctype.partition("version=")[2] or "unversioned"
            (versions if DATE_RE.match(label) else undated).append(label)
            root = merge_all_of(c.get("schema") or {})
            props = root.get("properties", {})
            if any(k in props for k in PAGING_KEYS):
                paging = True
            if "_embedded" in props:
                body = merge_all_of(props["_embedded"])
                if schema_type(body) == "array":
                    env, item = "embedded", body.get("items") or {}
                else:
                    env, item = "embedded_object", body
            elif "content" in props:
                body = merge_all_of(props["content"])
                if schema_type(body) == "array":
                    env, item = "content_list", body.get("items") or {}
                else:
                    env, item = "content", body
            elif schema_type(root) == "array":
                env, item = "bare", root.get("items") or {}
            else:
                env, item = "content", root
            envelope = envelope or env
            schemas[label] = node("", item, interner)
        kind = "json" if schemas else "binary"
        headers = resp.get("headers", {}) or {}
        entry: dict[str, Any] = {
            "path": path,
            "operation_id": op.get("operationId"),
            "tag": (op.get("tags") or [None])[0],
            "kind": kind,
            "envelope": envelope,
            "paging": paging if kind == "json" else False,
            "etag": any(h.lower() == "etag" for h in headers),
            "path_params": path_params,
            "query_params": query,
            "versions": sorted(versions),
            "undated_versions": sorted(undated),
            "media_types": sorted(media),
            "schemas": {k: schemas[k] for k in sorted(schemas)},
        }
        if spec_path != path:
            entry["spec_path"] = spec_path
        endpoints.append(entry)
    endpoints.sort(key=lambda e: e["path"])
    writes.sort(key=lambda e: (e["path"], WRITE_METHODS.index(e["method"].lower())))
    return {
        "format": 2,
        "source": {
            "file": "loket-openapi.json",
            "sha256": digest,
            "info_version": spec.get("info", {}).get("version"),
        },
        "nodes": interner.nodes,
        "endpoints": endpoints,
        "writes": writes,
    }


def render(spec_file: Path) -> bytes:
    raw = spec_file.read_bytes()
    catalog = derive(json.loads(raw), hashlib.sha256(raw).hexdigest())
    text = json.dumps(catalog, separators=(",", ":"), ensure_ascii=False)
    # one endpoint / node per line keeps diffs readable at almost no cost in size
    text = text.replace('],[["', '],\n[["').replace('},{"path"', '},\n{"path"')
    text = text.replace('},{"method"', '},\n{"method"').replace('"writes":[{', '"writes":[\n{')
    return (text + "\n").encode()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", type=Path, default=DEFAULT_SPEC)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--check", action="store_true", help="exit 1 if --out is not up to date")
    args = ap.parse_args(argv)
    data = render(args.spec)
    if args.check:
        same = args.out.exists() and args.out.read_bytes() == data
        print("up to date" if same else f"{args.out} is stale: re-run {Path(__file__).name}")
        return 0 if same else 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(data)
    print(f"wrote {args.out} ({len(data):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
