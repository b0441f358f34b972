#!/usr/bin/env python3
"""Validates domain events emitted by the test suite (one envelope per line) against
schemas/events: the envelope schema and the schema of each event's detail-type."""
import json
import pathlib
import sys

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

ROOT = pathlib.Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "schemas" / "events"


def main(path: str) -> int:
    events = [json.loads(line) for line in pathlib.Path(path).read_text().splitlines() if line.strip()]
    if not events:
        print(f"no events in {path}: the suite that emits them did not run", file=sys.stderr)
        return 1
    schemas = {p.name: json.loads(p.read_text()) for p in SCHEMAS.glob("*.schema.json")}
    # The envelope refers to each detail schema by its $id; resolve those locally, never online.
    registry = Registry().with_resources(
        (schema.get("$id", name), Resource.from_contents(schema, default_specification=DRAFT202012))
        for name, schema in schemas.items())
    envelope = Draft202012Validator(schemas["envelope.schema.json"], registry=registry,
                                    format_checker=Draft202012Validator.FORMAT_CHECKER)
    seen, failures = set(), 0
    for event in events:
        kind = event.get("detail-type")
        seen.add(kind)
        detail = Draft202012Validator(schemas[f"{kind}.schema.json"], registry=registry,
                                      format_checker=Draft202012Validator.FORMAT_CHECKER)
        for error in list(envelope.iter_errors(event)) + list(detail.iter_errors(event.get("detail"))):
            failures += 1
            print(f"{kind}: {error.message} at {list(error.absolute_path)}", file=sys.stderr)
    expected = {p.name.removesuffix(".schema.json") for p in SCHEMAS.glob("*.schema.json")} - {"envelope"}
    missing = expected - seen
    if missing:
        print(f"no emitted example of: {sorted(missing)}", file=sys.stderr)
        failures += 1
    print(f"{len(events)} emitted events checked, {len(seen)} types, {failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
