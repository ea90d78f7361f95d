"""Every services and selectors module is type-checked strictly: the mypy override names it."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = ("accounts", "content", "markets", "portal", "positioning")


def strict_patterns() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    overrides = config["tool"]["mypy"]["overrides"]
    strict = [o for o in overrides if o.get("disallow_untyped_defs") and o.get("warn_return_any")]
    assert len(strict) == 1, "one strict override, flag by flag (never `strict = true` in an override)"
    assert "strict" not in strict[0]
    return list(strict[0]["module"])


def covered(module: str, patterns: list[str]) -> bool:
    # mypy's rule: "a.b" names that module; "a.b.*" names a.b and everything below it.
    return any(module == p or (p.endswith(".*") and (module + ".").startswith(p[:-1])) for p in patterns)


def modules_named(*names: str) -> list[str]:
    found = []
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if "migrations" in parts or "tests" in parts:
                continue
            if path.name == "__init__.py":
                parts = parts[:-1]
            if any(part in names for part in parts):
                found.append(".".join(parts))
    return sorted(found)


def test_every_services_and_selectors_module_is_strict() -> None:
    patterns = strict_patterns()
    missing = [m for m in modules_named("services", "selectors") if not covered(m, patterns)]
    assert missing == []


def test_the_positioning_core_and_the_access_service_are_strict() -> None:
    patterns = strict_patterns()
    for module in ("positioning.resolver", "positioning.reader", "accounts.access"):
        assert covered(module, patterns), module


def test_the_checker_sees_through_globs() -> None:
    patterns = ["content.services.*", "markets.services"]
    assert covered("content.services.positions", patterns)
    assert covered("content.services", patterns)
    assert not covered("content.selectors", patterns)
    assert not covered("markets.services_extra", patterns)
