"""The command line every offline check of the repository shares (scripts/check_edge.py,
deploy/check_cloudwatch.py, deploy/check_web.py): `--root DIR` (default: this checkout), every
problem on stderr prefixed with the check's name, one line saying what held when nothing failed,
and exit status 1 on any problem.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(name: str, doc: str | None, check: Callable[[Path], list[str]], passed: str) -> int:
    """Runs `check` on the repository root given on the command line, reports, returns the exit status."""
    parser = argparse.ArgumentParser(description=(doc or name).splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT)
    problems = check(parser.parse_args().root)
    for problem in problems:
        print(f"{name}: {problem}", file=sys.stderr)
    if not problems:
        print(f"{name}: {passed}")
    return 1 if problems else 0
