#!/usr/bin/env python3
"""Checks that the deployment matches the function table.

The table is `tacos_core::functions` (every function, its kind, its routes), printed as JSON by
`tacos-container functions` (built here with `cargo run` unless `--table FILE` gives its output).
Fails (exit 1, with a diff) unless:
  * the functions of template.yaml (their BuildProperties.Binary) are exactly the table's, and the
    crates under functions/ too, each with a binary of its own name, a workspace member, whose
    `main` names its own entry of the table;
  * every HttpApi route in template.yaml's events is a route of the table served by the same
    function, and every route of the table is such an event (the one catch-all `$default` route,
    owned by the table's catch-all function, is the only route outside the table); functions
    that are not HTTP serve no route; the response-streaming function has a RESPONSE_STREAM URL;
  * a container-image function is a copy of one of them: built from the Dockerfile's lambda
    target, naming the function it plays in ImageConfig.Command, which must be one of them;
  * every path and method of the HttpApi's DefinitionBody (the optional authorizer) is also an
    event, so no route is left without an integration;
  * the [watch.router] of cargo-lambda.toml routes like the table;
  * each function is given (its *_SECRET_ARN, after Globals) exactly the platform secrets the
    table says it reads (`Function::secrets`), and its policies let it read exactly those: a
    function missing one would make up a random key at its start (a webhook signed with it, a
    lobby seeded with it), one given more can read what it never uses.

Usage: scripts/check_functions.py [--root DIR] [--table FILE]
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

try:
    import yaml
except ImportError:  # pragma: no cover - the message is the point
    sys.exit("check_functions.py needs PyYAML: python3 -m pip install PyYAML")


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


def load_table(root: Path, table: Path | None = None) -> dict:
    """The function table: `table`'s file (or $TACOS_FUNCTION_TABLE's), else what
    `tacos-container functions` prints."""
    table = table or (Path(os.environ["TACOS_FUNCTION_TABLE"]) if os.environ.get("TACOS_FUNCTION_TABLE") else None)
    if table is not None:
        return json.loads(table.read_text())
    out = subprocess.run(
        ["cargo", "run", "--quiet", "-p", "tacos-container", "--", "functions"],
        cwd=root, check=True, capture_output=True, text=True,
    ).stdout
    return json.loads(out)


def parse_endpoints(table: dict) -> list[tuple[str, str, str]]:
    """(METHOD, path, function) of every route of the table."""
    return [
        (route["method"].upper(), route["path"], function["name"])
        for function in table["functions"]
        for route in function["routes"]
    ]


def variant(name: str) -> str:
    """The table's enum variant of a function name (`queue-join` -> `QueueJoin`)."""
    return "".join(part.capitalize() for part in name.split("-"))


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


# The table's name of each platform secret -> the variable holding its Secrets Manager reference.
SECRET_REFERENCES = {
    "jwt": "TACOS_JWT_SECRET_ARN",
    "webhook": "TACOS_WEBHOOK_SECRET_ARN",
    "admin_password": "TACOS_ADMIN_PASSWORD_ARN",
    "origin": "TACOS_ORIGIN_SECRET_ARN",
}


def refs_in(value) -> set[str]:
    """The logical ids a (short-form) template value references with !Ref, anywhere inside it."""
    if isinstance(value, dict):
        found = set()
        for tag, inner in value.items():
            if tag in ("!Ref", "Ref") and isinstance(inner, str):
                found.add(inner)
            else:
                found |= refs_in(inner)
        return found
    if isinstance(value, list):
        return set().union(*(refs_in(v) for v in value)) if value else set()
    return set()


def secret_checks(template: dict, functions: dict[str, tuple[str, dict]], table: dict) -> list[str]:
    """Each function's secrets (given by reference, readable by its policies) == the table's."""
    problems: list[str] = []
    resources = template.get("Resources") or {}
    globals_env = (((template.get("Globals") or {}).get("Function") or {}).get("Environment") or {}).get("Variables") or {}
    # Which logical id is which secret: whatever the reference variables name, anywhere.
    envs = {name: {**globals_env, **((((res.get("Properties") or {}).get("Environment") or {}).get("Variables")) or {})}
            for name, (_, res) in functions.items()}
    secret_ids: dict[str, str] = {}
    for env in [globals_env, *envs.values()]:
        for key, variable in SECRET_REFERENCES.items():
            for ref in refs_in(env.get(variable)):
                if (resources.get(ref) or {}).get("Type") == "AWS::SecretsManager::Secret":
                    secret_ids[ref] = key
    needs = {f["name"]: set(f.get("secrets", [])) for f in table["functions"]}
    for name, (logical_id, resource) in sorted(functions.items()):
        if name not in needs:
            continue
        env = envs[name]
        given = {key for key, variable in SECRET_REFERENCES.items()
                 if any(ref in secret_ids for ref in refs_in(env.get(variable)))}
        readable: set[str] = set()
        for policy in (resource.get("Properties") or {}).get("Policies") or []:
            for ref in refs_in(policy):
                document = ((resources.get(ref) or {}).get("Properties") or {}).get("PolicyDocument") or {}
                for statement in document.get("Statement") or []:
                    actions = statement.get("Action")
                    actions = actions if isinstance(actions, list) else [actions]
                    if "secretsmanager:GetSecretValue" in actions:
                        readable |= {secret_ids[r] for r in refs_in(statement.get("Resource")) if r in secret_ids}
        wanted = needs[name]
        for key in sorted(wanted - given):
            problems.append(f"function {name} ({logical_id}) reads the {key} secret, but {SECRET_REFERENCES[key]} does not reference it")
        for key in sorted(given - wanted):
            problems.append(f"function {name} ({logical_id}) is given the {key} secret ({SECRET_REFERENCES[key]}), which it never reads: blank it")
        for key in sorted(wanted - readable):
            problems.append(f"function {name} ({logical_id}) reads the {key} secret, but none of its policies allows secretsmanager:GetSecretValue on it")
        for key in sorted(readable - wanted):
            problems.append(f"function {name} ({logical_id}) may read the {key} secret, which it never reads: drop the policy granting it")
    return problems


def show(rows) -> str:
    return "\n".join(f"    {m:<7} {p:<40} -> {f}" for m, p, f in sorted(rows, key=lambda r: (r[1], r[0])))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--table", type=Path, help="the output of `tacos-container functions`")
    args = parser.parse_args()
    root = args.root.resolve()
    table = load_table(root, args.table)

    problems: list[str] = []
    endpoints = parse_endpoints(table)
    if not endpoints:
        problems.append("the function table has no route")
    expected_routes = set(endpoints)
    kinds = {f["name"]: f["kind"] for f in table["functions"]}
    http_functions = {name for name, kind in kinds.items() if kind in ("http", "response_stream")}
    trigger_functions = set(kinds) - http_functions
    catch_all_owner = table["catch_all"]

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
        main_rs = crate / "src" / "main.rs"
        if name in kinds and main_rs.is_file() and f"Function::{variant(name)})" not in main_rs.read_text():
            problems.append(f"function {name}: functions/{name}/src/main.rs does not run Function::{variant(name)}")
    for name in sorted(set(crates) - set(kinds)):
        problems.append(f"function {name}: crate functions/{name}/ is not in the function table (tacos_core::functions)")
    for name in sorted(set(kinds) - in_template):
        problems.append(f"function {name}: in the function table ({kinds[name]}), but template.yaml does not deploy it")
    for name in sorted(in_template - set(kinds)):
        problems.append(f"function {name}: in template.yaml, but not in the function table (tacos_core::functions)")
    for name, kind in sorted(kinds.items()):
        if kind == "response_stream" and name in functions:
            url = (functions[name][1].get("Properties") or {}).get("FunctionUrlConfig") or {}
            # Or a URL of its own (AWS::Lambda::Url), as when CloudFront signs for it (IAM auth).
            modes = {url.get("InvokeMode")} | {
                (resource.get("Properties") or {}).get("InvokeMode")
                for resource in (template.get("Resources") or {}).values()
                if isinstance(resource, dict) and resource.get("Type") == "AWS::Lambda::Url"
                and (resource.get("Properties") or {}).get("TargetFunctionArn")
                in ({"Ref": functions[name][0]}, {"!Ref": functions[name][0]})
            }
            if "RESPONSE_STREAM" not in modes:
                problems.append(f"function {name}: streams its responses, but no function URL of it has InvokeMode RESPONSE_STREAM")

    # 2. HTTP routes of the template == the table's, with the same owner.
    routes, catch_all = template_routes(functions)
    missing = expected_routes - routes
    extra = routes - expected_routes
    if missing or extra:
        lines = ["HttpApi routes of template.yaml differ from the function table (tacos_core::functions):"]
        if missing:
            lines += ["  - in the table, missing from template.yaml (or owned by another function there):", show(missing)]
        if extra:
            lines += ["  + in template.yaml, not in the table (or owned by another function there):", show(extra)]
        problems.append("\n".join(lines))
    if catch_all and catch_all != [catch_all_owner]:
        problems.append(f"the catch-all $default route must belong to {catch_all_owner} alone, not {', '.join(catch_all)}")
    for name in sorted(trigger_functions & {f for _, _, f in routes}):
        problems.append(f"function {name}: a {kinds[name]} function must not serve HTTP routes")

    # 3. Every operation of the DefinitionBody has an event (an integration).
    event_keys = {(m, p) for m, p, _ in routes}
    for method, path in sorted(definition_body_routes(template) - event_keys, key=lambda r: (r[1], r[0])):
        problems.append(f"HttpApi DefinitionBody has {method} {path}, which no function's HttpApi event serves")

    # 4. cargo-lambda.toml's local router routes like the table.
    router = watch_router(root / "cargo-lambda.toml")
    if router is not None and router != expected_routes:
        lines = ["cargo-lambda.toml [watch.router] differs from the function table:"]
        if expected_routes - router:
            lines += ["  - in the table, missing from the router:", show(expected_routes - router)]
        if router - expected_routes:
            lines += ["  + in the router, not in the table:", show(router - expected_routes)]
        problems.append("\n".join(lines))

    # 5. secrets: given and readable exactly as the table says.
    problems += secret_checks(template, functions, table)

    if problems:
        print(f"check_functions: {len(problems)} problem(s)", file=sys.stderr)
        for problem in problems:
            print(f"- {problem}", file=sys.stderr)
        return 1
    print(
        f"check_functions: OK: {len(in_template)} functions ({len(http_functions)} HTTP, "
        f"{len(trigger_functions)} triggers), {len(expected_routes)} routes match the function table"
        + (f", catch-all -> {catch_all_owner}" if catch_all else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
