"""Load zappa_settings.json the way Zappa 0.63.0 does, offline, and list the keys Zappa reads."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import zappa
from zappa.cli import CUSTOM_SETTINGS, ZappaCLI

ROOT = Path(__file__).resolve().parents[2]
SETTINGS_FILE = ROOT / "zappa_settings.json"
PRIMARY = {"dev": "dev", "staging": "staging", "production": "prod_use1"}


def raw_settings() -> dict[str, dict[str, Any]]:
    data: dict[str, dict[str, Any]] = json.loads(SETTINGS_FILE.read_text())
    return data


def stages() -> list[str]:
    return list(raw_settings())


@contextmanager
def in_project_root() -> Iterator[None]:
    # Zappa reads attach_policy files and scans for modules relative to the working directory.
    previous = os.getcwd()
    os.chdir(ROOT)
    try:
        yield
    finally:
        os.chdir(previous)


def load_stage(stage: str) -> ZappaCLI:
    """Return a ZappaCLI with `stage` loaded by Zappa's own loader, without AWS credentials."""
    cli = ZappaCLI()
    cli.api_stage = stage
    cli.load_credentials = False
    with in_project_root():
        cli.load_settings(str(SETTINGS_FILE))
    return cli


@cache
def zappa_setting_names() -> frozenset[str]:
    """Every stage key Zappa 0.63.0 reads, taken from its own source (cli.py and core.py).

    Zappa ignores unknown keys silently, so a typo ("memory", "touchpath") would deploy with a
    default; this set lets a test reject them.
    """
    names = set(CUSTOM_SETTINGS) | {"extends", "delete_zip"}
    package = Path(zappa.__file__).parent
    for module in ("cli.py", "core.py"):
        tree = ast.parse((package / module).read_text())
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "get"
                and isinstance(node.func.value, ast.Attribute)
                and node.func.value.attr == "stage_config"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                names.add(node.args[0].value)
            if (
                isinstance(node, ast.Subscript)
                and isinstance(node.value, ast.Attribute)
                and node.value.attr == "stage_config"
                and isinstance(node.slice, ast.Constant)
                and isinstance(node.slice.value, str)
            ):
                names.add(node.slice.value)
    return frozenset(names)


def unknown_keys(settings: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """Return, per stage, the keys Zappa would silently ignore."""
    known = zappa_setting_names()
    return {stage: sorted(set(config) - known) for stage, config in settings.items() if set(config) - known}


def environment_of(cli: ZappaCLI) -> str:
    return str(cli.stage_config["aws_environment_variables"]["MERIDIAN_ENVIRONMENT"])


def deploy_package_module() -> ModuleType:
    """Import deploy/package.py (a script, not a package)."""
    spec = importlib.util.spec_from_file_location("meridian_deploy_package", ROOT / "deploy" / "package.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
