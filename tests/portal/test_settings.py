"""Settings: production reads the environment and passes `check --deploy` cleanly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # The browser tests set DJANGO_ALLOW_ASYNC_UNSAFE for Playwright; it must not leak into a
    # production check (Django rightly warns about it there). The settings' defaults are what is
    # tested, so a runner's MERIDIAN_VAR_DIR (CI's parallel pass moves it) goes too.
    dropped = (
        "DATABASE_URL",
        "DJANGO_SETTINGS_MODULE",
        "DJANGO_ALLOW_ASYNC_UNSAFE",
        "MERIDIAN_VAR_DIR",
    )
    base = {k: v for k, v in os.environ.items() if k not in dropped}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


PRODUCTION = {
    "DJANGO_SETTINGS_MODULE": "portal.settings.production",
    "SECRET_KEY": "x" * 60 + "not-a-real-secret-but-long-and-random-enough-ABCDEF0123456789",
    "DATABASE_URL": "postgres://meridian@db.internal:5432/meridian",
    "ALLOWED_HOSTS": "meridian.example.com",
    "SHARED_TABLES_PREFIX": "meridian-prod-",
    "DEFAULT_FROM_EMAIL": "Meridian <notifications@meridian.example.com>",
    "NOTIFICATIONS_SITE_URL": "https://meridian.example.com",
}


def test_production_check_deploy_has_no_warnings() -> None:
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_check_deploy_warns_about_local_email_settings() -> None:
    # Given production settings that kept the local sender and no site address
    env = {k: v for k, v in PRODUCTION.items() if k not in ("DEFAULT_FROM_EMAIL", "NOTIFICATIONS_SITE_URL")}

    # When the deployment checks run
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=env)

    # Then both are named, and the check fails
    assert result.returncode != 0
    assert "meridian.W001" in result.stderr and "meridian@localhost" in result.stderr
    assert "meridian.W002" in result.stderr


def test_local_email_backends_need_no_sender_check() -> None:
    # Given a stage that writes emails to its log instead of sending them
    env = {k: v for k, v in PRODUCTION.items() if k not in ("DEFAULT_FROM_EMAIL", "NOTIFICATIONS_SITE_URL")}
    env["EMAIL_BACKEND"] = "django.core.mail.backends.console.EmailBackend"

    # When the deployment checks run, then they pass
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_zappa_stage_sets_a_real_sender_and_site_address() -> None:
    # Given the deployed stages' environments
    import json

    stages = json.loads((ROOT / "zappa_settings.json").read_text())
    for name, stage in stages.items():
        variables = stage.get("aws_environment_variables", {})
        if variables.get("DJANGO_SETTINGS_MODULE") != "portal.settings.production":
            continue
        # Then each passes the deployment email checks
        env = {**PRODUCTION, **{k: variables[k] for k in ("DEFAULT_FROM_EMAIL", "NOTIFICATIONS_SITE_URL")}}
        result = _manage("check", "--deploy", "--tag", "meridian", "--fail-level", "WARNING", env=env)
        assert result.returncode == 0, (name, result.stdout + result.stderr)


def test_production_requires_a_secret_key() -> None:
    env = {k: v for k, v in PRODUCTION.items() if k != "SECRET_KEY"}
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_requires_a_database_url() -> None:
    env = {k: v for k, v in PRODUCTION.items() if k != "DATABASE_URL"}
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert "DATABASE_URL" in result.stderr


def test_local_settings_default_to_sqlite_under_var() -> None:
    result = _manage(
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings; d = settings.DATABASES['default']; print(d['ENGINE'], d['NAME'])",
        env={},
    )
    assert result.returncode == 0, result.stderr
    engine, name = result.stdout.split()
    assert engine == "django.db.backends.sqlite3"
    assert name.endswith("var/meridian.sqlite3")


def test_database_url_switches_local_settings_to_postgresql() -> None:
    result = _manage(
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings; print(settings.DATABASES['default']['ENGINE'])",
        env={"DATABASE_URL": "postgres://u@127.0.0.1:5432/x"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "django.db.backends.postgresql"
