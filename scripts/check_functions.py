#!/usr/bin/env python3
"""Checks that the deployment matches the code.

Fails (exit 1, with a diff) unless:
  * the functions of template.yaml (their BuildProperties.Binary) are exactly the crates under
    functions/, each crate having a binary of its own name and being a workspace member (a
    container-image function is a copy of one of them: built from the Dockerfile's lambda target,
    naming the function it plays in ImageConfig.Command, which must be one of them);
  * every HttpApi route in template.yaml's events is a row of ENDPOINTS in
    shared/src/http/routes/mod.rs (the `endpoint!(...)` lines) owned by the same function, and
    every row of ENDPOINTS is such a route (the one catch-all `$default` route, owned by ops, is
    the only route outside the table);
  * every path and method of the HttpApi's DefinitionBody (the optional authorizer) is also an
    event, so no route is left without an integration;
  * the [watch.router] of cargo-lambda.toml routes like ENDPOINTS.

Usage: scripts/check_functions.py [--root DIR]
"""
from __future__ import annotations

import argparse
import fnmatch
import re
import sys
import tomllib
from pathlib import Path

try:
    import yaml
except ImportError:  # pragma: no cover - the message is the point
    sys.exit("check_functions.py needs PyYAML: python3 -m pip install PyYAML")

# Functions that serve no HTTP route: timer targets, the queue consumer, and the WebSocket API's
# $connect / $disconnect integrations and pusher (tacos_lambda::TRIGGER_FUNCTIONS).
TRIGGER_FUNCTIONS = {
    "expire", "payment-simulator", "payment-followup", "ws-connect", "ws-disconnect", "ws-push",
}
# The function that owns the `$default` (catch-all) route, answering the contract's 404.
CATCH_ALL_OWNER = "ops"

ENDPOINT_RE = re.compile(
    r'endpoint!\(\s*"(?P<function>[^"]+)"\s*,\s*\w+\s+"(?P<method>[A-Za-z]+)"\s*,\s*"(?P<path>[^"]+)"'
)


class CfnLoader(yaml.SafeLoader):
    """A YAML loader that accepts CloudFormation's short-form tags (!Ref, !Sub, !If, ...)."""


def _cfn_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {f"!{suffix}": value}


CfnLoader.add_multi_constructor("!", _cfn_tag)


def parse_endpoints(routes_rs: Path) -> list[tuple[str, str, str]]:
    """(METHOD, path, function) of every `endpoint!(...)` line, in order."""
    rows = []
    for line in routes_rs.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("//") or "endpoint!(" not in stripped or "macro_rules" in stripped:
            continue
        match = ENDPOINT_RE.search(stripped)
        if match:
            rows.append((match["method"].upper(), match["path"], match["function"]))
    return rows


def load_template(path: Path) -> dict:
    with path.open() as f:
        return yaml.load(f, Loader=CfnLoader)  # noqa: S506 - SafeLoader subclass


def template_functions(template: dict, problems: list[str]) -> dict[str, tuple[str, dict]]:
    """Binary name -> (logical id, resource) of every AWS::Serverless::Function."""
    found: dict[str, tuple[str, dict]] = {}
    for logical_id, resource in (template.get("Resources") or {}).items():
        if not isinstance(resource, dict) or resource.get("Type") != "AWS::Serverless::Function":
            continue
        metadata = resource.get("Metadata") or {}
        if (resource.get("Properties") or {}).get("PackageType") == "Image":
            # The container image plays the function its image command names (tacos-container,
            # Dockerfile's lambda target): an extra copy, not a function of its own.
            command = ((resource.get("Properties") or {}).get("ImageConfig") or {}).get("Command") or []
            if metadata.get("Dockerfile") != "Dockerfile" or metadata.get("DockerBuildTarget") != "lambda":
                problems.append(f"template.yaml: {logical_id} is not built from the Dockerfile's lambda target")
            if len(command) != 1:
                problems.append(f"template.yaml: {logical_id} must name the function it plays in ImageConfig.Command")
            continue
        binary = (metadata.get("BuildProperties") or {}).get("Binary")
        if not binary:
            problems.append(f"template.yaml: {logical_id} has no Metadata.BuildProperties.Binary")
            continue
        if metadata.get("BuildMethod") != "rust-cargolambda":
            problems.append(f"template.yaml: {logical_id} ({binary}) is not built with BuildMethod rust-cargolambda")
        if binary in found:
            problems.append(f"template.yaml: binary {binary} is built by both {found[binary][0]} and {logical_id}")
        found[binary] = (logical_id, resource)
    return found


def template_routes(functions: dict[str, tuple[str, dict]]) -> tuple[set[tuple[str, str, str]], list[str]]:
    """(METHOD, path, function) of every HttpApi event with a path, and the owners of `$default`."""
    routes: set[tuple[str, str, str]] = set()
    catch_all: list[str] = []
    for binary, (_, resource) in functions.items():
        events = (resource.get("Properties") or {}).get("Events") or {}
        for event in events.values():
            if not isinstance(event, dict) or event.get("Type") != "HttpApi":
                continue
            props = event.get("Properties") or {}
            path, method = props.get("Path"), props.get("Method")
            if path in (None, "$default") and method in (None, "ANY", "any"):
                catch_all.append(binary)
                continue
            routes.add((str(method).upper(), str(path), binary))
    return routes, catch_all


def definition_body_routes(template: dict) -> set[tuple[str, str]]:
    """(METHOD, path) of every operation in the DefinitionBody of each AWS::Serverless::HttpApi."""
    found: set[tuple[str, str]] = set()
    for resource in (template.get("Resources") or {}).values():
        if not isinstance(resource, dict) or resource.get("Type") != "AWS::Serverless::HttpApi":
            continue
        body = (resource.get("Properties") or {}).get("DefinitionBody") or {}
        for path, item in (body.get("paths") or {}).items():
            for method in item or {}:
                if method.lower() in {"get", "put", "post", "delete", "patch", "head", "options"}:
                    found.add((method.upper(), path))
    return found


def crate_binaries(crate: Path) -> set[str]:
    """The binary targets of one crate, as cargo would name them."""
    manifest = tomllib.loads((crate / "Cargo.toml").read_text())
    package = (manifest.get("package") or {}).get("name")
    names = {b["name"] for b in manifest.get("bin") or [] if "name" in b}
    autobins = (manifest.get("package") or {}).get("autobins", True)
    if package and (crate / "src" / "main.rs").is_file() and autobins:
        names.add(package)
    if autobins:
        names.update(p.stem for p in (crate / "src" / "bin").glob("*.rs"))
        names.update(p.name for p in (crate / "src" / "bin").glob("*/") if (p / "main.rs").is_file())
    return names


def workspace_members(root: Path) -> list[str]:
    manifest = tomllib.loads((root / "Cargo.toml").read_text())
    return list((manifest.get("workspace") or {}).get("members") or [])


def is_member(relative: str, members: list[str]) -> bool:
    return any(fnmatch.fnmatch(relative, pattern.rstrip("/")) for pattern in members)


def watch_router(path: Path) -> set[tuple[str, str, str]] | None:
    if not path.is_file():
        return None
    config = tomllib.loads(path.read_text())
    router = (config.get("watch") or {}).get("router") or {}
    routes = set()
    for route_path, target in router.items():
        if isinstance(target, str):
            routes.add(("*", route_path, target))
        else:
            for entry in target:
                routes.add((entry["method"].upper(), route_path, entry["function"]))
    return routes


def show(rows) -> str:
    return "\n".join(f"    {m:<7} {p:<40} -> {f}" for m, p, f in sorted(rows, key=lambda r: (r[1], r[0])))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    root = parser.parse_args().root.resolve()

    problems: list[str] = []
    endpoints = parse_endpoints(root / "shared/src/http/routes/mod.rs")
    if not endpoints:
        problems.append("shared/src/http/routes/mod.rs: no endpoint!(...) line found")
    expected_routes = set(endpoints)
    http_functions = {f for _, _, f in endpoints}

    template = load_template(root / "template.yaml")
    functions = template_functions(template, problems)
    in_template = set(functions)

    # 0. a container-image copy plays a function that exists.
    for logical_id, resource in (template.get("Resources") or {}).items():
        props = (resource or {}).get("Properties") or {} if isinstance(resource, dict) else {}
        if props.get("PackageType") == "Image":
            for name in (props.get("ImageConfig") or {}).get("Command") or []:
                if name not in functions:
                    problems.append(f"template.yaml: {logical_id} plays {name}, which is not a function of the template")

    # 1. functions in the template == crates under functions/, each with its binary.
    crates_dir = root / "functions"
    crates = {p.name: p for p in sorted(crates_dir.iterdir()) if (p / "Cargo.toml").is_file()} if crates_dir.is_dir() else {}
    members = workspace_members(root)
    for name in sorted(in_template - set(crates)):
        problems.append(f"function {name}: in template.yaml, but there is no crate functions/{name}/")
    for name in sorted(set(crates) - in_template):
        problems.append(f"function {name}: crate functions/{name}/ exists, but template.yaml does not deploy it")
    for name, crate in crates.items():
        binaries = crate_binaries(crate)
        if name not in binaries:
            problems.append(
                f"function {name}: functions/{name}/ has no binary named {name} "
                f"(binaries: {', '.join(sorted(binaries)) or 'none'})"
            )
        if not is_member(f"functions/{name}", members):
            problems.append(f"function {name}: functions/{name} is not a member of the workspace (Cargo.toml [workspace] members)")
    expected_functions = http_functions | TRIGGER_FUNCTIONS
    for name in sorted(expected_functions - in_template):
        why = "owns routes in ENDPOINTS" if name in http_functions else "is a trigger (timer or queue) function"
        problems.append(f"function {name}: {why}, but template.yaml does not deploy it")

    # 2. HTTP routes of the template == ENDPOINTS, with the same owner.
    routes, catch_all = template_routes(functions)
    missing = expected_routes - routes
    extra = routes - expected_routes
    if missing or extra:
        lines = ["HttpApi routes of template.yaml differ from ENDPOINTS (shared/src/http/routes/mod.rs):"]
        if missing:
            lines += ["  - in ENDPOINTS, missing from template.yaml (or owned by another function there):", show(missing)]
        if extra:
            lines += ["  + in template.yaml, not in ENDPOINTS (or owned by another function there):", show(extra)]
        problems.append("\n".join(lines))
    if catch_all and catch_all != [CATCH_ALL_OWNER]:
        problems.append(f"the catch-all $default route must belong to {CATCH_ALL_OWNER} alone, not {', '.join(catch_all)}")
    for name in sorted(TRIGGER_FUNCTIONS & {f for _, _, f in routes}):
        problems.append(f"function {name}: a trigger function must not serve HTTP routes")

    # 3. Every operation of the DefinitionBody has an event (an integration).
    event_keys = {(m, p) for m, p, _ in routes}
    for method, path in sorted(definition_body_routes(template) - event_keys, key=lambda r: (r[1], r[0])):
        problems.append(f"HttpApi DefinitionBody has {method} {path}, which no function's HttpApi event serves")

    # 4. cargo-lambda.toml's local router routes like ENDPOINTS.
    router = watch_router(root / "cargo-lambda.toml")
    if router is not None and router != expected_routes:
        lines = ["cargo-lambda.toml [watch.router] differs from ENDPOINTS:"]
        if expected_routes - router:
            lines += ["  - in ENDPOINTS, missing from the router:", show(expected_routes - router)]
        if router - expected_routes:
            lines += ["  + in the router, not in ENDPOINTS:", show(router - expected_routes)]
        problems.append("\n".join(lines))

    if problems:
        print(f"check_functions: {len(problems)} problem(s)", file=sys.stderr)
        for problem in problems:
            print(f"- {problem}", file=sys.stderr)
        return 1
    print(
        f"check_functions: OK: {len(in_template)} functions ({len(http_functions)} HTTP, "
        f"{len(TRIGGER_FUNCTIONS)} triggers), {len(expected_routes)} routes match ENDPOINTS"
        + (f", catch-all -> {CATCH_ALL_OWNER}" if catch_all else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
