"""Database selection shared by local and production settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dj_database_url

from .base import env


def conn_max_age() -> int:
    """Return DB_CONN_MAX_AGE: seconds a connection is kept between requests (Lambda reuses it)."""
    return env.int("DB_CONN_MAX_AGE", 60)


def database_config(default_sqlite: Path | None) -> dict[str, Any]:
    """Return the default database from DATABASE_URL, else an embedded SQLite file.

    Raises KeyError when neither is available (production without DATABASE_URL).
    """
    url = env.str("DATABASE_URL", "")
    if url:
        return dict(dj_database_url.parse(url, conn_max_age=conn_max_age(), conn_health_checks=True))
    if default_sqlite is None:
        raise KeyError("DATABASE_URL")
    default_sqlite.parent.mkdir(parents=True, exist_ok=True)
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(default_sqlite),
        # WAL + a busy timeout let the dev server and a management command share the file.
        "OPTIONS": {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
    }
