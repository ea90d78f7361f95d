"""Every setting app code reads is declared in portal/settings/, parsed from the environment there,
and listed in README.md: app code never reads the environment nor guesses a default.

The scan is of the source (ast), so the class of defect cannot come back unnoticed:
`getattr(settings, "X", default)` hides a missing declaration and a typo; `os.environ` in app
code escapes parsing, validation and the README table.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
APP_PACKAGES = ("accounts", "content", "markets", "portal")
# Where reading the environment is the job:
ALLOWED = {
    # Settings are parsed from the environment here (environs).
    "portal/settings",
    # Secrets come from NAME, NAME_SSM_PARAMETER or NAME_SECRET_ID, resolved per name at start-up.
    "portal/secrets.py",
    # Django's own bootstrap: names the settings module before any setting exists.
    "portal/wsgi.py",
}
# `positioning/` is exempt by design: a Django-free library another team's Lambda imports.


def _app_files() -> Iterator[Path]:
    for package in APP_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if "/migrations/" in relative or any(
                relative == allowed or relative.startswith(allowed + "/") for allowed in ALLOWED
            ):
                continue
            yield path


def _offences(tree: ast.AST) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "hasattr")
            and node.args
            and isinstance(node.args[0], ast.Name | ast.Attribute)
            and (node.args[0].id if isinstance(node.args[0], ast.Name) else node.args[0].attr) == "settings"
        ):
            yield node.lineno, f"{node.func.id}(settings, ...)"
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
            and node.attr in ("environ", "getenv", "environb", "putenv")
        ):
            yield node.lineno, f"os.{node.attr}"
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            for alias in node.names:
                if alias.name in ("environ", "getenv", "environb"):
                    yield node.lineno, f"from os import {alias.name}"


def _settings_read(tree: ast.AST) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "settings"
            and node.attr.isupper()
        ):
            yield node.lineno, node.attr


def test_the_scan_finds_each_kind_of_offence() -> None:
    source = (
        "import os\nfrom os import environ\nfrom django.conf import settings\n"
        "a = getattr(settings, 'X', 1)\nb = os.environ.get('Y')\nc = os.getenv('Z')\n"
    )
    found = [what for _, what in _offences(ast.parse(source))]
    assert sorted(found) == sorted(
        ["from os import environ", "getattr(settings, ...)", "os.environ", "os.getenv"]
    )


def test_app_code_reads_neither_the_environment_nor_undeclared_settings() -> None:
    offences = [
        f"{path.relative_to(ROOT)}:{line}: {what}"
        for path in _app_files()
        for line, what in _offences(ast.parse(path.read_text(), filename=str(path)))
    ]
    assert offences == [], (
        "Declare the setting in portal/settings/base.py and read settings.NAME:\n" + "\n".join(offences)
    )


def test_every_setting_app_code_reads_is_declared() -> None:
    missing = sorted(
        f"{path.relative_to(ROOT)}:{line}: settings.{name}"
        for path in _app_files()
        for line, name in _settings_read(ast.parse(path.read_text(), filename=str(path)))
        if not hasattr(settings, name)
    )
    assert missing == []


_ENV_READ = re.compile(r"""\b(?:env\.\w+|env_list|_required|secrets\.secret)\(\s*["']([A-Z][A-Z0-9_]*)["']""")


def _variables() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "portal" / "settings").glob("*.py"):
        names.update(_ENV_READ.findall(path.read_text()))
    return names


def test_every_environment_variable_is_in_the_readme_configuration_table() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Configuration") :]
    variables = _variables()
    assert "SHARED_TABLES_PREFIX" in variables and "DATABASE_URL" in variables  # the scan works
    undocumented = sorted(name for name in variables if f"`{name}`" not in table)
    assert undocumented == []


def test_a_malformed_value_fails_at_start_up_naming_the_variable() -> None:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update({"DJANGO_SETTINGS_MODULE": "portal.settings.test", "SHARED_TABLES_PUBLISH_THREADS": "eight"})
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "SHARED_TABLES_PUBLISH_THREADS" in result.stderr


def test_lists_drop_blanks_and_spaces(monkeypatch: pytest.MonkeyPatch) -> None:
    from portal.settings.base import env_list

    monkeypatch.setenv("MERIDIAN_LIST_PROBE", " a:b , ,c:d,")
    assert env_list("MERIDIAN_LIST_PROBE") == ["a:b", "c:d"]
