"""Schemathesis hooks for scripts/schemathesis.sh (loaded through SCHEMATHESIS_HOOKS).

* Authorization: an auth provider, so schemathesis knows the credentials and its own auth checks
  (missing_required_header, ignored_auth) can take them away: a buyer's bearer token, the
  administrator's on /admin/... .
* Idempotency-Key: a fresh UUID for every request that carries a valid one, so a generated key
  never replays another case's response; a missing or malformed key is left as generated (the
  400 IDEMPOTENCY_REQUIRED / INVALID_IDEMPOTENCY_KEY cases).
"""

import os
import uuid

import schemathesis


def _describe_lambdas_despite_cpython_3_11_7() -> None:
    """Hypothesis names a filtered strategy (for its repr only) by parsing the source of the
    filter's lambda. Deep in schemathesis's coverage phase that parse trips a CPython 3.11.7 bug,
    "SystemError: AST constructor recursion depth mismatch" (fixed in later CPythons), which
    schemathesis reports as a runtime error of whichever operation it was covering: most runs
    after the OpenAPI document grew its nullable fields. A lambda whose source cannot be parsed
    is named generically instead; nothing but the name depends on it."""
    try:
        from hypothesis.internal import lambda_sources
    except ImportError:
        return
    describe = getattr(lambda_sources, "_lambda_description", None)
    if describe is None:
        return

    def tolerant(f, *args, **kwargs):
        try:
            return describe(f, *args, **kwargs)
        except SystemError:
            return "lambda: <source not parsed>"

    lambda_sources._lambda_description = tolerant


_describe_lambdas_despite_cpython_3_11_7()

USER = os.environ["TACOS_ST_USER_TOKEN"]
ADMIN = os.environ["TACOS_ST_ADMIN_TOKEN"]


@schemathesis.auth(refresh_interval=None)
class BearerTokens:
    def get(self, case, context):
        return ADMIN if context.operation.path.startswith("/admin/") else USER

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


def _is_uuid(value) -> bool:
    try:
        uuid.UUID(str(value))
        return True
    except ValueError:
        return False


@schemathesis.hook
def before_call(context, case, kwargs):
    headers = case.headers
    if headers and _is_uuid(headers.get("Idempotency-Key", "-")):
        headers["Idempotency-Key"] = str(uuid.uuid4())
