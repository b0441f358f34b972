#!/usr/bin/env python3
"""Runs deploy/web.sh offline, against a stand-in for the AWS CLI, and checks what it would do.

The stand-in answers `cloudformation describe-stacks` with a stack's outputs and records every
other call. For a stack with a WebSocket API (a `WebSocketUrl` output) and one without, the
deployment must:

  * write config.json with api_base_url "" (the API is on the app's own distribution), ws_url
    the WebSocketUrl output, or null, and metrics_dashboard_url the OperatorDashboardUrl output
    (the operator page's link; null when the stack has none);
  * upload the hashed bundles (assets/) cached for a year (immutable), every other file and
    config.json with no-cache, and index.html last, with no-cache;
  * delete nothing unless --prune, and then never config.json;
  * with --dry-run, pass --dryrun to every upload and invalidate nothing;
  * invalidate /, /index.html and /config.json on the stack's distribution;
  * refuse a stack without the app's outputs (EnableCloudFront "false").

Uses the committed web/dist (the script runs with --skip-build). Exit 1 listing every problem.

Usage: deploy/check_web.py [--root DIR]
"""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import checks  # noqa: E402

STUB = r'''#!/usr/bin/env python3
import json, os, shutil, sys
args = sys.argv[1:]
with open(os.environ["STUB_LOG"], "a") as log:
    log.write(json.dumps(args) + "\n")
if args[:2] == ["cloudformation", "describe-stacks"]:
    print(os.environ["STUB_OUTPUTS"])
elif args[:2] == ["s3", "cp"] and args[3].endswith("/config.json"):
    shutil.copy(args[2], os.environ["STUB_CONFIG"])
'''

IMMUTABLE = "public, max-age=31536000, immutable"


DASHBOARD = "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#dashboards/dashboard/tacos-operator"


def outputs(ws: str | None) -> str:
    values = {
        "AppBucketName": "tacos-appbucket-1a2b3c",
        "DistributionId": "E2EXAMPLE",
        "AppUrl": "https://d111111abcdef8.cloudfront.net/",
        "ApiUrl": "https://d111111abcdef8.cloudfront.net",
        "OperatorDashboardUrl": DASHBOARD,
    }
    if ws:
        values["WebSocketUrl"] = ws
    return json.dumps([{"OutputKey": k, "OutputValue": v} for k, v in values.items()])


def run(root: Path, stub_dir: Path, stack_outputs: str, *args: str) -> tuple[int, list[list[str]], dict | None, str]:
    log, config = stub_dir / "calls.log", stub_dir / "config.json"
    for f in (log, config):
        f.unlink(missing_ok=True)
    env = {
        **os.environ,
        "PATH": f"{stub_dir}:{os.environ['PATH']}",
        "STUB_LOG": str(log),
        "STUB_OUTPUTS": stack_outputs,
        "STUB_CONFIG": str(config),
    }
    for name in ("TACOS_WEB_API_BASE_URL", "TACOS_WEB_WS_URL"):
        env.pop(name, None)
    done = subprocess.run([str(root / "deploy/web.sh"), "tacos", "--skip-build", *args], env=env,
                          capture_output=True, text=True, timeout=60)
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    written = json.loads(config.read_text()) if config.exists() else None
    return done.returncode, calls, written, done.stdout + done.stderr


def check(root: Path) -> list[str]:
    problems: list[str] = []
    if not (root / "web/dist/index.html").is_file():
        return ["web/dist/index.html is missing: the web app's build must be committed"]
    with tempfile.TemporaryDirectory() as tmp:
        stub_dir = Path(tmp)
        (stub_dir / "aws").write_text(STUB)
        (stub_dir / "aws").chmod(0o755)
        ws = "wss://abc123.execute-api.us-east-1.amazonaws.com/live"
        for ws_url in (ws, None):
            what = f"stack {'with' if ws_url else 'without'} WebSocketUrl"
            rc, calls, config, log = run(root, stub_dir, outputs(ws_url))
            if rc != 0:
                problems.append(f"{what}: deploy/web.sh failed ({rc}):\n{log}")
                continue
            if config != {"api_base_url": "", "ws_url": ws_url, "metrics_dashboard_url": DASHBOARD}:
                problems.append(f"{what}: config.json is {config}")
            uploads = [c for c in calls if c[:2] in (["s3", "sync"], ["s3", "cp"])]
            shown = "\n".join("  aws " + shlex.join(c) for c in uploads)

            def flag(call: list[str], name: str) -> str | None:
                return call[call.index(name) + 1] if name in call else None

            assets = [c for c in uploads if c[2] == "web/dist/assets"]
            if not assets or flag(assets[0], "--cache-control") != IMMUTABLE:
                problems.append(f"{what}: assets/ not uploaded with {IMMUTABLE!r}:\n{shown}")
            for call in uploads:
                if call[2] != "web/dist/assets" and flag(call, "--cache-control") != "no-cache":
                    problems.append(f"{what}: {call[2]} uploaded without no-cache")
                if "--delete" in call:
                    problems.append(f"{what}: deleted files without --prune: aws {shlex.join(call)}")
            if not uploads or uploads[-1][2] != "web/dist/index.html":
                problems.append(f"{what}: index.html is not uploaded last:\n{shown}")
            if any(not c[3].startswith("s3://tacos-appbucket-1a2b3c") for c in uploads):
                problems.append(f"{what}: uploads outside the stack's bucket:\n{shown}")
            invalidations = [c for c in calls if c[:2] == ["cloudfront", "create-invalidation"]]
            if not invalidations or flag(invalidations[0], "--distribution-id") != "E2EXAMPLE" \
                    or not {"/", "/index.html", "/config.json"} <= set(invalidations[0]):
                problems.append(f"{what}: no invalidation of /, /index.html and /config.json: {invalidations}")
        rc, calls, _, log = run(root, stub_dir, outputs(None), "--prune")
        deletes = [c for c in calls if "--delete" in c]
        if rc != 0 or not deletes or "config.json" not in deletes[0]:
            problems.append(f"--prune: no sync --delete sparing config.json ({rc}): {deletes}\n{log}")
        rc, calls, _, log = run(root, stub_dir, outputs(None), "--dry-run")
        writes = [c for c in calls if c[0] in ("s3", "cloudfront")]
        if rc != 0 or not writes or any(c[0] == "cloudfront" or "--dryrun" not in c for c in writes):
            problems.append(f"--dry-run: changed something ({rc}): {writes}\n{log}")
        rc, calls, _, log = run(root, stub_dir, json.dumps([{"OutputKey": "ApiUrl", "OutputValue": "https://x"}]))
        if rc == 0 or any(c[0] == "s3" for c in calls):
            problems.append(f"a stack without the app's outputs was deployed to ({rc}):\n{log}")
    return problems


def main() -> int:
    return checks.run(
        "check_web",
        __doc__,
        check,
        "deploy/web.sh writes config.json from the outputs, caches bundles for a year, "
        "revalidates the rest, uploads index.html last and invalidates it",
    )


if __name__ == "__main__":
    sys.exit(main())
