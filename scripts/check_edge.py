#!/usr/bin/env python3
"""Checks that template.yaml keeps the deployment-wide abuse controls SECURITY.md names, and the
web app's hosting beside the API.

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
  * every behaviour of the distribution that reaches the API (`/api/*` and the probes at the root,
    the function table's paths outside /api/) has caching disabled, a response headers policy that sets,
    with Override, exactly the security headers the functions send (SECURITY_HEADERS in
    shared/http/src/lib.rs), and the viewer-request function that writes the viewer's address
    into the header the functions read (TACOS_CLIENT_IP_HEADER in the Globals), overwriting what
    a client sent;
  * the default behaviour serves the web app from an S3 origin of this template through an origin
    access control (SigV4, always signing), never over plain HTTP; the bucket blocks all public
    access and is encrypted, and its policy lets only this distribution read it; the behaviour's
    headers are the functions' with the page's Content-Security-Policy instead (PAGE_POLICY in
    shared/webapp/src/serve.rs; connect-src may add sources); its viewer-request function sends a
    browser's navigation to a route of the app to /index.html; no custom error response rewrites
    errors to a page (it would hide the API's);
  * the outputs name the app's URL, bucket and distribution (deploy/web.sh reads them);
  * the API cannot be reached around CloudFront unnoticed: every origin that is the API or a
    function URL sends the origin secret header (x-tacos-origin-secret, a Secrets Manager secret
    of this template), which the functions are given (TACOS_ORIGIN_SECRET_ARN in the Globals);
    /api/v1/queue/stream goes to queue-stream's function URL (IAM auth, RESPONSE_STREAM) through
    a Lambda origin access control, before /api/*, uncompressed, with the API's headers and
    client-address function; the URL's invoke permission is for this distribution only.

Usage: scripts/check_edge.py [--root DIR]
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import checks  # noqa: E402
from check_functions import load_table, load_template, parse_endpoints  # noqa: E402  (CloudFormation-tag-aware)

# Managed-CachingDisabled: the API's answers are per caller and live.
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"


def security_headers(mod_rs: Path) -> dict[str, str]:
    """SECURITY_HEADERS of shared/http/src/lib.rs, as {lower-case name: value}."""
    text = mod_rs.read_text()
    block = re.search(r"pub const SECURITY_HEADERS[^=]*=\s*&\[(.*?)\];", text, re.S)
    if not block:
        sys.exit("SECURITY_HEADERS not found in shared/http/src/lib.rs")
    pairs = re.findall(r'\(\s*"([^"]+)"\s*,\s*"([^"]+)"\s*,?\s*\)', block.group(1))
    return {name.lower(): value for name, value in pairs}


def page_policy(serve_rs: Path) -> str:
    """PAGE_POLICY of shared/webapp/src/serve.rs (a string literal continued over lines with `\\`)."""
    match = re.search(r'pub const PAGE_POLICY: &str = "(.*?)";', serve_rs.read_text(), re.S)
    if not match:
        sys.exit("PAGE_POLICY not found in shared/webapp/src/serve.rs")
    return re.sub(r"\\\n\s*", "", match.group(1))


def directives(policy: str) -> dict[str, list[str]]:
    """A Content-Security-Policy as {directive: sources}."""
    out = {}
    for part in policy.split(";"):
        words = part.split()
        if words:
            out[words[0]] = words[1:]
    return out


def literal(value):
    """The string of a scalar or of a !Sub (its template, with ${...} left in)."""
    if isinstance(value, dict) and "!Sub" in value:
        sub = value["!Sub"]
        return sub if isinstance(sub, str) else sub[0]
    return value


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
        out["content-security-policy"] = (literal(csp.get("ContentSecurityPolicy")), bool(csp.get("Override")))
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
    """Every resource a (possibly nested) intrinsic refers to by !Ref, !GetAtt or ${...} in a !Sub."""
    found = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "!Ref" and isinstance(inner, str):
                found.add(inner)
            elif key == "!GetAtt":
                target = inner if isinstance(inner, str) else inner[0]
                found.add(target.split(".")[0])
            elif key == "!Sub":
                text = inner if isinstance(inner, str) else inner[0]
                found |= {name.split(".")[0] for name in re.findall(r"\$\{([^}!]+)\}", text)}
                if not isinstance(inner, str):
                    found |= refs(inner[1:])
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
        # (Fn::ForEach entries are lists: the per-function log groups and alarms, none of them edge.)
        return {n: r for n, r in resources.items() if isinstance(r, dict) and r.get("Type") == kind}

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
    wanted = security_headers(root / "shared/http/src/lib.rs")
    header_policies = of_type("AWS::CloudFront::ResponseHeadersPolicy")

    def headers_of(behavior: dict, where: str) -> dict[str, tuple[str, bool]]:
        names = [n for n in refs(behavior.get("ResponseHeadersPolicyId")) if n in header_policies]
        if not names:
            problems.append(f"{dist_name}: {where} has no response headers policy of this template")
            return {}
        config = header_policies[names[0]]["Properties"]["ResponseHeadersPolicyConfig"]
        return policy_headers(config.get("SecurityHeadersConfig", {}))

    def same_headers(sent: dict, expected: dict, where: str) -> None:
        for header, value in expected.items():
            if header not in sent:
                problems.append(f"{where}: does not send {header}")
            elif sent[header][0] != value:
                problems.append(f"{where}: {header} is {sent[header][0]!r}, the functions send {value!r}")
            elif not sent[header][1]:
                problems.append(f"{where}: {header} without Override")

    # The API's behaviours: /api/* and the probes at the root.
    origins = {o.get("Id"): o for o in config.get("Origins", [])}
    api_origins = {i for i, o in origins.items() if "execute-api" in json.dumps(o.get("DomainName"))}
    behaviors = {b.get("PathPattern"): b for b in config.get("CacheBehaviors", [])}
    root_paths = sorted({p for _, p, _ in parse_endpoints(load_table(root))
                         if not p.startswith("/api/")})
    client_ip = (
        template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    ).get("TACOS_CLIENT_IP_HEADER")
    header = next((v for v in json.dumps(client_ip).split('"') if v.startswith("x-")), None)
    if not header:
        problems.append("Globals: TACOS_CLIENT_IP_HEADER does not name the CloudFront function's header")
    for path in ["/api/*", *root_paths]:
        behavior = behaviors.get(path)
        where = f"{dist_name} behaviour {path}"
        if behavior is None:
            problems.append(f"{dist_name}: no cache behaviour sends {path} to the API")
            continue
        if behavior.get("TargetOriginId") not in api_origins:
            problems.append(f"{where}: its origin {behavior.get('TargetOriginId')!r} is not the HTTP API")
        if behavior.get("CachePolicyId") != CACHING_DISABLED:
            problems.append(f"{where}: the API's answers must not be cached (Managed-CachingDisabled)")
        same_headers(headers_of(behavior, where), wanted, where)
        functions = refs([a.get("FunctionARN") for a in behavior.get("FunctionAssociations", [])
                          if a.get("EventType") == "viewer-request"])
        codes = [resources[f]["Properties"].get("FunctionCode", "") for f in functions if f in resources]
        if header and not any(f"headers['{header}'] = {{ value: event.viewer.ip }}" in code for code in codes):
            problems.append(f"{where}: no viewer-request function writes the viewer's IP into {header}")

    # The web app: the default behaviour, from a private bucket through an origin access control.
    app = config.get("DefaultCacheBehavior", {})
    where = f"{dist_name} default behaviour"
    origin = origins.get(app.get("TargetOriginId"), {})
    if "S3OriginConfig" not in origin:
        problems.append(f"{where}: its origin {app.get('TargetOriginId')!r} is not an S3 bucket")
    if app.get("ViewerProtocolPolicy") not in ("redirect-to-https", "https-only"):
        problems.append(f"{where}: must not be served over plain HTTP")
    oacs = [n for n in refs(origin.get("OriginAccessControlId"))
            if resources.get(n, {}).get("Type") == "AWS::CloudFront::OriginAccessControl"]
    if not oacs:
        problems.append(f"{where}: the bucket origin has no origin access control of this template")
    for name in oacs:
        oac = resources[name]["Properties"]["OriginAccessControlConfig"]
        if (oac.get("OriginAccessControlOriginType"), oac.get("SigningBehavior"), oac.get("SigningProtocol")) != ("s3", "always", "sigv4"):
            problems.append(f"{name}: must sign every request to S3 with SigV4 (s3, always, sigv4)")
    if (origin.get("S3OriginConfig") or {}).get("OriginAccessIdentity") not in ("", None):
        problems.append(f"{where}: a legacy origin access identity besides the access control")
    buckets = [n for n in refs(origin.get("DomainName")) if resources.get(n, {}).get("Type") == "AWS::S3::Bucket"]
    if not buckets:
        problems.append(f"{where}: the origin is not a bucket of this template")
    for name in buckets:
        props = resources[name].get("Properties", {})
        block = props.get("PublicAccessBlockConfiguration", {})
        for key in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"):
            if block.get(key) is not True:
                problems.append(f"{name}: PublicAccessBlockConfiguration.{key} must be true")
        if not props.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration"):
            problems.append(f"{name}: no default encryption (BucketEncryption)")
        policies = [r for r in of_type("AWS::S3::BucketPolicy").values()
                    if name in refs(r.get("Properties", {}).get("Bucket"))]
        statements = [st for r in policies for st in r["Properties"]["PolicyDocument"].get("Statement", [])]
        reads = [st for st in statements if st.get("Effect") == "Allow"
                 and st.get("Principal") == {"Service": "cloudfront.amazonaws.com"}
                 and dist_name in refs(st.get("Condition"))]
        if not reads:
            problems.append(f"{name}: its policy does not let the distribution {dist_name} read it (AWS:SourceArn)")
        for st in statements:
            if st.get("Effect") == "Allow" and st not in reads:
                problems.append(f"{name}: its policy allows {st.get('Principal')!r} besides the distribution")
    sent = headers_of(app, where)
    expected_page = page_policy(root / "shared/webapp/src/serve.rs")
    got_page = sent.pop("content-security-policy", (None, False))
    same_headers(sent, {h: v for h, v in wanted.items() if h != "content-security-policy"}, where)
    if not got_page[0]:
        problems.append(f"{where}: no Content-Security-Policy")
    else:
        got, want = directives(got_page[0]), directives(expected_page)
        got_connect, want_connect = got.pop("connect-src", []), want.pop("connect-src", [])
        if got != want or got_connect[: len(want_connect)] != want_connect or not got_page[1]:
            problems.append(f"{where}: its CSP {got_page[0]!r} (Override {got_page[1]}) is not the page's "
                            f"{expected_page!r} (connect-src may only add sources)")
    functions = refs([a.get("FunctionARN") for a in app.get("FunctionAssociations", [])
                      if a.get("EventType") == "viewer-request"])
    codes = [resources[f]["Properties"].get("FunctionCode", "") for f in functions if f in resources]
    if not any("'/index.html'" in c and "text/html" in c and "/assets/" in c for c in codes):
        problems.append(f"{where}: no viewer-request function sends navigations to /index.html "
                        "(only for text/html, never under /assets/)")
    for response in config.get("CustomErrorResponses", []):
        if response.get("ResponsePagePath"):
            problems.append(f"{dist_name}: CustomErrorResponses answer {response.get('ErrorCode')} with a page, "
                            "which would hide the API's errors")
    # The origin secret and the streaming function URL.
    globals_env = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    secrets = of_type("AWS::SecretsManager::Secret")
    given = refs(globals_env.get("TACOS_ORIGIN_SECRET_ARN")) & set(secrets)
    if not given:
        problems.append("Globals: TACOS_ORIGIN_SECRET_ARN is not a Secrets Manager secret of this template")
    for origin_id, origin in origins.items():
        if "S3OriginConfig" in origin:
            continue
        sent = {h.get("HeaderName", "").lower(): h.get("HeaderValue") for h in origin.get("OriginCustomHeaders", [])}
        value = sent.get("x-tacos-origin-secret")
        if value is None or not (refs(value) & given) or "resolve:secretsmanager" not in json.dumps(value):
            problems.append(f"{dist_name}: origin {origin_id} does not send x-tacos-origin-secret from the secret the functions read")
    stream = behaviors.get("/api/v1/queue/stream")
    order = [b.get("PathPattern") for b in config.get("CacheBehaviors", [])]
    if stream is None:
        problems.append(f"{dist_name}: no behaviour sends /api/v1/queue/stream to queue-stream's function URL")
    else:
        where = f"{dist_name} behaviour /api/v1/queue/stream"
        if order.index("/api/v1/queue/stream") > order.index("/api/*") if "/api/*" in order else False:
            problems.append(f"{where}: comes after /api/*, which would take its requests")
        origin = origins.get(stream.get("TargetOriginId"), {})
        urls = [n for n in refs(origin.get("DomainName")) if resources.get(n, {}).get("Type") == "AWS::Lambda::Url"]
        if not urls:
            problems.append(f"{where}: its origin is not a function URL of this template")
        for url in urls:
            props = resources[url]["Properties"]
            if props.get("AuthType") != "AWS_IAM" or props.get("InvokeMode") != "RESPONSE_STREAM":
                problems.append(f"{url}: must be AuthType AWS_IAM (only the distribution may call it) and RESPONSE_STREAM")
            target = refs(props.get("TargetFunctionArn"))
            perms = [r["Properties"] for r in of_type("AWS::Lambda::Permission").values()
                     if refs(r["Properties"].get("FunctionName")) & target]
            for action in ("lambda:InvokeFunctionUrl", "lambda:InvokeFunction"):
                if not any(p.get("Action") == action and p.get("Principal") == "cloudfront.amazonaws.com"
                           and dist_name in refs(p.get("SourceArn")) for p in perms):
                    problems.append(f"{url}: no {action} permission for this distribution (cloudfront.amazonaws.com, SourceArn)")
            for p in perms:
                if p.get("Principal") != "cloudfront.amazonaws.com" or dist_name not in refs(p.get("SourceArn")):
                    problems.append(f"{url}: its function may also be invoked by {p.get('Principal')!r}")
        oacs = [n for n in refs(origin.get("OriginAccessControlId"))
                if resources.get(n, {}).get("Type") == "AWS::CloudFront::OriginAccessControl"]
        for name in oacs or ["(none)"]:
            oac = resources.get(name, {}).get("Properties", {}).get("OriginAccessControlConfig", {})
            if (oac.get("OriginAccessControlOriginType"), oac.get("SigningBehavior"), oac.get("SigningProtocol")) != ("lambda", "always", "sigv4"):
                problems.append(f"{where}: needs a Lambda origin access control signing every request (lambda, always, sigv4)")
        if stream.get("CachePolicyId") != CACHING_DISABLED or stream.get("Compress") is not False:
            problems.append(f"{where}: must be uncached and uncompressed (events would be held back)")
        same_headers(headers_of(stream, where), wanted, where)
        functions = refs([a.get("FunctionARN") for a in stream.get("FunctionAssociations", [])
                          if a.get("EventType") == "viewer-request"])
        codes = [resources[f]["Properties"].get("FunctionCode", "") for f in functions if f in resources]
        if header and not any(f"headers['{header}'] = {{ value: event.viewer.ip }}" in code for code in codes):
            problems.append(f"{where}: no viewer-request function writes the viewer's IP into {header}")

    outputs = template.get("Outputs", {})
    for output in ("AppUrl", "AppBucketName", "DistributionId"):
        if output not in outputs:
            problems.append(f"Outputs: no {output} (deploy/web.sh reads it)")
    return problems


def main() -> int:
    return checks.run(
        "check_edge",
        __doc__,
        check,
        "throttling, WAF rate rules, security headers and client address in place; "
        "the web app from a private bucket with the page's policy",
    )


if __name__ == "__main__":
    sys.exit(main())
