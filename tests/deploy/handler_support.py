"""Drive Zappa's real LambdaHandler in-process with a stage's generated settings module."""

from __future__ import annotations

import logging
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from zappa.handler import LambdaHandler

from tests.deploy.zappa_stages import load_stage


@contextmanager
def zappa_handler(stage: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[LambdaHandler]:
    """Yield a fresh LambdaHandler configured by the zappa_settings.py `zappa package` bakes in.

    Django stays on the test settings pytest-django configured (Zappa only sets
    DJANGO_SETTINGS_MODULE when it is unset), so requests use the test database. As Django's test
    Client does, close_old_connections is disconnected meanwhile: it would close the connection
    that holds the test's transaction.
    """
    cli = load_stage(stage)
    module = f"meridian_zappa_settings_{stage}"
    # The handler writes these into os.environ; monkeypatch restores them afterwards.
    for key in ("SERVERTYPE", "FRAMEWORK", "PROJECT", "STAGE", "AWS_REGION"):
        monkeypatch.setenv(key, "unset-by-test")
    root_level = logging.getLogger().level
    with tempfile.TemporaryDirectory(prefix="meridian-zappa-") as folder:
        (Path(folder) / f"{module}.py").write_text(cli.get_zappa_settings_string())
        sys.path.insert(0, folder)
        LambdaHandler._LambdaHandler__instance = None  # type: ignore[attr-defined]
        request_started.disconnect(close_old_connections)
        request_finished.disconnect(close_old_connections)
        try:
            yield LambdaHandler(settings_name=module)
        finally:
            request_started.connect(close_old_connections)
            request_finished.connect(close_old_connections)
            LambdaHandler._LambdaHandler__instance = None  # type: ignore[attr-defined]
            sys.path.remove(folder)
            sys.modules.pop(module, None)
            logging.getLogger().setLevel(root_level)
