#!/usr/bin/env python3
"""Checks that template.yaml keeps the deployment-wide abuse controls SECURITY.md names.

On AWS each function instance has its own per-caller buckets, so what bounds a caller across the
deployment is configuration, not code: API Gateway's throttling, the WAF's rate-based rules on
the CloudFront distribution in front of the API, CloudFront's security headers, and the function
that gives the functions the viewer's real address. Nothing runs them here, so this check is
what fails when one of them is dropped or drifts from the code. Fails (exit 1, listing every
problem) unless:

  * the HttpApi throttles every route (DefaultRouteSettings) and login and register on their own;
  * the WAF web ACL is CLOUDFRONT-scoped, blocks per client IP with rate-based rules (one for the
    whole API, one scoped to /api/v1/auth/), answering 429 with Retry-After and a body in the
    contract's error shape, and the distribution uses it;
  * the distribution's response headers policy sets, with Override, exactly the security headers
    the functions send (SECURITY_HEADERS in shared/src/http/mod.rs);
  * the viewer-request function writes the viewer's address into the header the functions read
    (TACOS_CLIENT_IP_HEADER in the Globals), overwriting what a client sent.

Usage: scripts/check_edge.py [--root DIR]
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from check_functions import load_template  # noqa: E402  (the CloudFormation-tag-aware loader)


def security_headers(mod_rs: Path) -> dict[str, str]:
    """SECURITY_HEADERS of shared/src/http/mod.rs, as {lower-case name: value}."""
    text = mod_rs.read_text()
    block = re.search(r"pub const SECURITY_HEADERS[^=]*=\s*&\[(.*?)\];", text, re.S)
    if not block:
        sys.exit("SECURITY_HEADERS not found in shared/src/http/mod.rs")
    pairs = re.findall(r'\(\s*"([^"]+)"\s*,\s*"([^"]+)"\s*,?\s*\)', block.group(1))
    return {name.lower(): value for name, value in pairs}


def policy_headers(config: dict) -> dict[str, tuple[str, bool]]:
    """What a CloudFront SecurityHeadersConfig sends: {name: (value, override)}."""
    out = {}
    hsts = config.get("StrictTransportSecurity")
    if hsts:
        value = f"max-age={hsts.get('AccessControlMaxAgeSec')}"
        if hsts.get("IncludeSubdomains"):
            value += "; includeSubDomains"
        if hsts.get("Preload"):
            value += "; preload"
        out["strict-transport-security"] = (value, bool(hsts.get("Override")))
    csp = config.get("ContentSecurityPolicy")
    if csp:
        out["content-security-policy"] = (csp.get("ContentSecurityPolicy"), bool(csp.get("Override")))
    frame = config.get("FrameOptions")
    if frame:
        out["x-frame-options"] = (frame.get("FrameOption"), bool(frame.get("Override")))
    if "ContentTypeOptions" in config:
        out["x-content-type-options"] = ("nosniff", bool(config["ContentTypeOptions"].get("Override")))
    referrer = config.get("ReferrerPolicy")
    if referrer:
        out["referrer-policy"] = (referrer.get("ReferrerPolicy"), bool(referrer.get("Override")))
    return out


def refs(value) -> set[str]:
    """Every resource a (possibly nested) intrinsic refers to by !Ref or !GetAtt."""
    found = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "!Ref" and isinstance(inner, str):
                found.add(inner)
            elif key == "!GetAtt":
                target = inner if isinstance(inner, str) else inner[0]
                found.add(target.split(".")[0])
            else:
                found |= refs(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= refs(inner)
    return found


def check(root: Path) -> list[str]:
    problems: list[str] = []
    template = load_template(root / "template.yaml")
    resources = template.get("Resources", {})

    def of_type(kind: str) -> dict[str, dict]:
        return {n: r for n, r in resources.items() if r.get("Type") == kind}

    # API Gateway throttling.
    apis = of_type("AWS::Serverless::HttpApi")
    if len(apis) != 1:
        problems.append(f"expected one HttpApi, found {sorted(apis)}")
    for name, api in apis.items():
        props = api.get("Properties", {})
        default = props.get("DefaultRouteSettings", {})
        for key in ("ThrottlingBurstLimit", "ThrottlingRateLimit"):
            if key not in default:
                problems.append(f"{name}: DefaultRouteSettings has no {key}")
        routes = props.get("RouteSettings", {})
        for route in ("POST /api/v1/auth/login", "POST /api/v1/auth/register"):
            settings = routes.get(route, {})
            if not {"ThrottlingBurstLimit", "ThrottlingRateLimit"} <= set(settings):
                problems.append(f"{name}: {route} is not throttled on its own (RouteSettings)")

    # The WAF.
    acls = of_type("AWS::WAFv2::WebACL")
    if len(acls) != 1:
        problems.append(f"expected one WAF web ACL, found {sorted(acls)}")
    acl_name, acl = next(iter(acls.items()), ("", {}))
    props = acl.get("Properties", {})
    if props.get("Scope") != "CLOUDFRONT":
        problems.append(f"{acl_name}: Scope must be CLOUDFRONT (WAF cannot attach to an HTTP API)")
    bodies = props.get("CustomResponseBodies", {})
    rate_rules = [r for r in props.get("Rules", []) if "RateBasedStatement" in r.get("Statement", {})]
    scoped = [r for r in rate_rules if "ScopeDownStatement" in r["Statement"]["RateBasedStatement"]]
    whole = [r for r in rate_rules if "ScopeDownStatement" not in r["Statement"]["RateBasedStatement"]]
    if not whole:
        problems.append(f"{acl_name}: no rate-based rule over the whole API")
    if not any("/api/v1/auth/" in json.dumps(r["Statement"]) for r in scoped):
        problems.append(f"{acl_name}: no rate-based rule scoped to /api/v1/auth/")
    for rule in rate_rules:
        statement = rule["Statement"]["RateBasedStatement"]
        name = rule.get("Name")
        if statement.get("AggregateKeyType") != "IP":
            problems.append(f"{acl_name}/{name}: must count per client IP (AggregateKeyType: IP)")
        response = rule.get("Action", {}).get("Block", {}).get("CustomResponse", {})
        if response.get("ResponseCode") != 429:
            problems.append(f"{acl_name}/{name}: must block with 429")
        if not any(h.get("Name", "").lower() == "retry-after" for h in response.get("ResponseHeaders", [])):
            problems.append(f"{acl_name}/{name}: its 429 has no Retry-After")
        body = bodies.get(response.get("CustomResponseBodyKey"), {}).get("Content", "")
        try:
            error = json.loads(body)["error"]
            if error.get("code") != "RATE_LIMITED" or not error.get("message") or not error.get("trace_id"):
                raise ValueError
        except (ValueError, KeyError, TypeError):
            problems.append(f"{acl_name}/{name}: its 429 body is not the contract's RATE_LIMITED error")

    # The distribution: WAF, security headers, the viewer's address.
    distributions = of_type("AWS::CloudFront::Distribution")
    if len(distributions) != 1:
        problems.append(f"expected one CloudFront distribution, found {sorted(distributions)}")
    dist_name, dist = next(iter(distributions.items()), ("", {}))
    config = dist.get("Properties", {}).get("DistributionConfig", {})
    if acl_name not in refs(config.get("WebACLId")):
        problems.append(f"{dist_name}: does not use the web ACL {acl_name}")
    behavior = config.get("DefaultCacheBehavior", {})
    policy_refs = refs(behavior.get("ResponseHeadersPolicyId"))
    policies = {n: r for n, r in of_type("AWS::CloudFront::ResponseHeadersPolicy").items() if n in policy_refs}
    if not policies:
        problems.append(f"{dist_name}: no response headers policy of this template")
    wanted = security_headers(root / "shared/src/http/mod.rs")
    for name, policy in policies.items():
        sent = policy_headers(
            policy["Properties"]["ResponseHeadersPolicyConfig"].get("SecurityHeadersConfig", {})
        )
        for header, value in wanted.items():
            if header not in sent:
                problems.append(f"{name}: does not send {header}")
            elif sent[header][0] != value:
                problems.append(f"{name}: {header} is {sent[header][0]!r}, the functions send {value!r}")
            elif not sent[header][1]:
                problems.append(f"{name}: {header} without Override")
    client_ip = (
        template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    ).get("TACOS_CLIENT_IP_HEADER")
    header = next((v for v in json.dumps(client_ip).split('"') if v.startswith("x-")), None)
    functions = refs([a.get("FunctionARN") for a in behavior.get("FunctionAssociations", [])
                      if a.get("EventType") == "viewer-request"])
    codes = [resources[f]["Properties"].get("FunctionCode", "") for f in functions if f in resources]
    if not header:
        problems.append("Globals: TACOS_CLIENT_IP_HEADER does not name the CloudFront function's header")
    elif not any(f"headers['{header}'] = {{ value: event.viewer.ip }}" in code for code in codes):
        problems.append(f"{dist_name}: no viewer-request function writes the viewer's IP into {header}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    problems = check(parser.parse_args().root)
    for problem in problems:
        print(f"check_edge: {problem}", file=sys.stderr)
    if not problems:
        print("check_edge: throttling, WAF rate rules, security headers and client address in place")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
