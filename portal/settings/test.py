"""Test settings: the local settings with fast hashing and synchronous, in-process side effects."""

from __future__ import annotations

import tempfile
from pathlib import Path

from .base import env
from .local import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DEBUG = False

# Each test run gets its own shared-tables file and media root, never the developer's var/.
_TMP = Path(env.str("MERIDIAN_TEST_TMP", "") or tempfile.mkdtemp(prefix="meridian-test-"))
SHARED_TABLES_LOCAL_PATH = _TMP / "shared_tables.sqlite3"
# Publishing after commit stays on, on the embedded backend, whatever the environment says: every
# test that runs on_commit callbacks exercises the real pipeline (suites opt into DynamoDB/moto).
SHARED_TABLES_BACKEND = "local"
SHARED_TABLES_PUBLISH_ON_COMMIT = True
MEDIA_ROOT = _TMP / "media"
MERIDIAN_ENVIRONMENT = "test"
# Django's test Client.login() calls authenticate() without a request, which django-axes refuses;
# the lockout suite (tests/hardening/test_login_abuse.py) turns axes back on around its tests.
AXES_ENABLED = False
# Background tasks run in the caller's thread after commit, so tests see their effect at once
# (tests/shared_tables/test_background.py switches the thread pool on).
TASKS_LOCAL_RUNNER = "inline"
