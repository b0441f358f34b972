#!/usr/bin/env python3
"""Validates the API documents; exits non-zero on the first kind of failure found.

* docs/openapi.yaml is a valid OpenAPI 3.0.3 document, and every `example`/`examples` in it
  (request bodies, responses, parameters) matches its schema;
* every schemas/events/*.schema.json is a valid JSON Schema draft 2020-12 document, its
  `examples` validate against it, and the envelope covers every event type.

Needs: pip install openapi-spec-validator jsonschema  (PyYAML and referencing come with them).
"""
import copy
import json
import pathlib
import sys

import yaml
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_openapi
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

ROOT = pathlib.Path(__file__).resolve().parent.parent
OPENAPI = ROOT / "docs" / "openapi.yaml"
EVENTS = ROOT / "schemas" / "events"
DRAFT = "https://json-schema.org/draft/2020-12/schema"
EVENT_TYPES = ["reservation.held", "reservation.confirmed", "reservation.cancelled",
               "reservation.expired", "payment.approved", "payment.failed", "payment.refunded"]
FORMATS = Draft202012Validator.FORMAT_CHECKER
errors = []


def oas30_to_2020(node):
    """OpenAPI 3.0 schema dialect -> JSON Schema 2020-12 (nullable, boolean exclusiveMinimum)."""
    if isinstance(node, list):
        return [oas30_to_2020(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: oas30_to_2020(v) for k, v in node.items()}
    if out.pop("nullable", False) and "type" in out:
        out["type"] = [out["type"], "null"]
    for kw, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if out.get(kw) is True:
            out[kw] = out.pop(bound)
        elif out.get(kw) is False:
            del out[kw]
    return out


def check_openapi():
    try:
        spec = yaml.safe_load(OPENAPI.read_text())
        validate_openapi(spec)
    except Exception as e:  # noqa: BLE001 - YAML errors and whatever the validator raises
        errors.append(f"{OPENAPI.name}: {getattr(e, 'message', e)}")
        return
    components = oas30_to_2020(spec.get("components", {}))
    codes = set(spec["components"]["schemas"]["ErrorCode"]["enum"])
    checked = 0

    def check(schema, value, where):
        nonlocal checked
        checked += 1
        validator = Draft202012Validator({"allOf": [oas30_to_2020(schema)], "components": components},
                                         format_checker=FORMATS)
        for err in validator.iter_errors(value):
            errors.append(f"{OPENAPI.name}: example at {where}: {err.message}")

    def walk(node, where):
        if isinstance(node, dict):
            schema = node.get("schema")
            if isinstance(schema, dict):
                if "example" in node:
                    check(schema, node["example"], where)
                for name, ex in (node.get("examples") or {}).items():
                    if isinstance(ex, dict) and "value" in ex:
                        check(schema, ex["value"], f"{where}/examples/{name}")
            # every narrowed error code must be a member of ErrorCode
            code = node.get("properties", {}).get("error", {}).get("properties", {}).get("code", {})
            if isinstance(code, dict) and "enum" in code and not set(code["enum"]) <= codes:
                errors.append(f"{OPENAPI.name}: {where}: codes {set(code['enum']) - codes} not in ErrorCode")
            for k, v in node.items():
                walk(v, f"{where}/{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{where}/{i}")

    walk(spec, "#")
    print(f"{OPENAPI.relative_to(ROOT)}: valid OpenAPI {spec['openapi']}, {checked} examples checked")


def check_event_schemas():
    files = sorted(EVENTS.glob("*.schema.json"))
    schemas = {}
    for path in files:
        try:
            schema = json.loads(path.read_text())
            if schema.get("$schema") != DRAFT:
                raise ValueError(f"$schema must be {DRAFT}")
            Draft202012Validator.check_schema(schema)
        except Exception as e:  # noqa: BLE001 - JSON errors and SchemaError alike
            errors.append(f"{path.name}: {getattr(e, 'message', e)}")
            continue
        schemas[path.name] = schema
    missing = {f"{t}.schema.json" for t in EVENT_TYPES + ["envelope"]} - {p.name for p in files}
    if missing:
        errors.append(f"schemas/events: missing {sorted(missing)}")
    registry = Registry().with_resources(
        (s["$id"], Resource.from_contents(s, default_specification=DRAFT202012)) for s in schemas.values())

    def validator(schema):
        return Draft202012Validator(schema, registry=registry, format_checker=FORMATS)

    complete = not missing and len(schemas) == len(files)
    for name, schema in schemas.items():
        if name == "envelope.schema.json" and not complete:
            continue  # its $refs need every detail schema
        for i, example in enumerate(schema.get("examples", [])):
            for err in validator(schema).iter_errors(example):
                errors.append(f"{name}: examples[{i}]: {err.message}")
    if not complete:
        return
    # The envelope dispatches on detail-type: each type's example must pass inside it, and fail
    # with the other source or an empty detail.
    envelope = validator(schemas["envelope.schema.json"])
    if set(schemas["envelope.schema.json"]["properties"]["detail-type"]["enum"]) != set(EVENT_TYPES):
        errors.append("envelope.schema.json: detail-type enum differs from the event types")
    for t in EVENT_TYPES:
        source = "tacos.reservation" if t.startswith("reservation.") else "tacos.payment"
        other = "tacos.payment" if source == "tacos.reservation" else "tacos.reservation"
        detail = schemas[f"{t}.schema.json"]["examples"][0]
        good = {"source": source, "detail-type": t, "detail": detail}
        for err in envelope.iter_errors(good):
            errors.append(f"envelope.schema.json: {t} example rejected: {err.message}")
        for bad in ({**good, "source": other}, {**good, "detail": {}}):
            if envelope.is_valid(bad):
                errors.append(f"envelope.schema.json: accepts an invalid {t} event: {bad}")
    print(f"schemas/events: {len(schemas)} valid draft 2020-12 schemas")


if __name__ == "__main__":
    check_openapi()
    check_event_schemas()
    for e in errors:
        print("FAIL", e, file=sys.stderr)
    sys.exit(1 if errors else 0)
