"""deploy/smoke.py against the portal served on loopback: health check and one read-only API call."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType
from typing import Any

import pytest

from accounts.models import User
from accounts.services import api_token_create
from tests.deploy.zappa_stages import ROOT


def load_smoke() -> ModuleType:
    spec = importlib.util.spec_from_file_location("meridian_smoke", ROOT / "deploy" / "smoke.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


smoke = load_smoke()


@pytest.mark.django_db(transaction=True)
def test_a_healthy_stage_passes_and_a_bad_token_fails(live_server: Any, editor: User) -> None:
    secret = api_token_create(actor=editor, user=editor, name="pipeline smoke").secret
    assert smoke.smoke(live_server.url, secret, attempts=1) == []
    problems = smoke.smoke(live_server.url, "not-a-token", attempts=2, sleep=lambda s: None)
    assert problems and problems[0].startswith(f"GET {smoke.READ_ONLY_CALL} answered 40")


def test_an_unreachable_stage_fails() -> None:
    problems = smoke.smoke("http://127.0.0.1:9", "t", attempts=1, timeout=2)
    # a refused connection is a failure to report, not a crash
    assert problems == ["/healthcheck answered 0 b'<urlopen error [Errno 111] Connection refused>'",
                        f"GET {smoke.READ_ONLY_CALL} answered 0"]  # fmt: skip
