#!/usr/bin/env python3
"""Installs the Python packages the test scripts use, when they are missing."""
import importlib.util
import subprocess
import sys

NEEDED = {"yaml": "PyYAML", "jsonschema": "jsonschema", "openapi_spec_validator": "openapi-spec-validator"}
missing = [pkg for module, pkg in NEEDED.items() if importlib.util.find_spec(module) is None]
if missing:
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *missing])
print("python tools ready")
