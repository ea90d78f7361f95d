"""Embedded settings for a laptop: SQLite under var/, local files, local AWS stand-ins."""

from __future__ import annotations

from .base import *  # noqa: F403
from .base import VAR_DIR, env
from .database import database_config

DEBUG = env.bool("DEBUG", True)
# A fixed key is fine here: these settings never serve real users (production.py requires one).
SECRET_KEY = env.str("SECRET_KEY", "meridian-local-development-key-not-for-production")
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]", "testserver"]

DATABASES = {"default": database_config(VAR_DIR / "meridian.sqlite3")}

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

MERIDIAN_ENVIRONMENT = "local"
# Webhook receivers on this machine (a developer's listener, the tests' own server).
NOTIFICATIONS_WEBHOOK_ALLOW_LOOPBACK = env.bool("NOTIFICATIONS_WEBHOOK_ALLOW_LOOPBACK", True)
