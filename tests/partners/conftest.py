"""Fixtures for the partners suites: a fresh limiter per test, the local gateway, plans and keys."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from limits.storage import Storage

from accounts import enforcement
from accounts.enforcement import PartnerLimiter
from accounts.gateway import set_gateway
from accounts.gateway.sqlite_limits import SQLiteStorage
from accounts.models import User
from accounts.partner_models import Partner, UsagePlan
from accounts.partner_services import IssuedKey, PlanInput, key_issue, partner_create, plan_create

REDIS_URL = os.environ.get("REDIS_URL", "")
STORAGES = ["sqlite", pytest.param("redis", marks=pytest.mark.skipif(not REDIS_URL, reason="REDIS_URL not set"))]
STAGE = "meridian:local"


def redis_storage(prefix: str) -> Storage:
    return enforcement.storage_from_uri(REDIS_URL, key_prefix=prefix)


def flush_redis_prefix(prefix: str) -> None:
    """Delete this test's keys only: other suites (and people) may share the Redis database."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=500))
    if keys:
        client.delete(*keys)


def make_storage(kind: str, tmp_path: Path) -> tuple[Storage, Callable[[], None]]:
    if kind == "redis":
        prefix = f"meridian-partners-test-{uuid.uuid4().hex[:12]}"
        return redis_storage(prefix), lambda: flush_redis_prefix(prefix)
    return SQLiteStorage(path=tmp_path / "limits.sqlite3"), lambda: None


@pytest.fixture(autouse=True)
def local_partner_setup(settings: Any, tmp_path: Path) -> Iterator[PartnerLimiter]:
    """Every partners test: the local gateway, no backoff sleeps, its own SQLite limiter."""
    settings.GATEWAY_BACKEND = "local"
    settings.API_GATEWAY_STAGES = [STAGE]
    settings.PARTNER_SYNC_BACKOFF = 0
    settings.PARTNER_KEY_CACHE_SECONDS = 0
    set_gateway(None)
    limiter = PartnerLimiter(SQLiteStorage(path=tmp_path / "default-limits.sqlite3"))
    enforcement.set_limiter(limiter)
    enforcement._last_used_written.clear()
    yield limiter
    enforcement.set_limiter(None)
    set_gateway(None)


@pytest.fixture(params=STORAGES)
def limiter(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PartnerLimiter]:
    """A limiter over each storage the deployment may use (Redis only when REDIS_URL is set)."""
    storage, cleanup = make_storage(request.param, tmp_path)
    built = PartnerLimiter(storage)
    enforcement.set_limiter(built)
    yield built
    cleanup()
    enforcement.set_limiter(None)


@pytest.fixture
def partner(db: None) -> Partner:
    return partner_create(actor=None, name="Optus", contact_email="partners@optus.example.com")


def plan_input(**overrides: Any) -> PlanInput:
    values: dict[str, Any] = {
        "name": "Partner Gold",
        "rate_limit": 50,
        "burst_limit": 500,
        "quota_limit": 20_000,
        "quota_period": "MONTH",
        "quota_offset": 0,
        "api_stages": [STAGE],
    }
    values.update(overrides)
    return PlanInput(**values)


@pytest.fixture
def make_plan(db: None, django_capture_on_commit_callbacks: Any) -> Callable[..., UsagePlan]:
    def make(**overrides: Any) -> UsagePlan:
        with django_capture_on_commit_callbacks(execute=True):
            plan = plan_create(actor=None, data=plan_input(**overrides))
        plan.refresh_from_db()
        return plan

    return make


@pytest.fixture
def plan(make_plan: Callable[..., UsagePlan]) -> UsagePlan:
    return make_plan()


@pytest.fixture
def issue(
    partner: Partner, plan: UsagePlan, django_capture_on_commit_callbacks: Any
) -> Callable[..., IssuedKey]:
    """Issue a key (on `plan` for `partner` unless told otherwise) and run its after-commit sync."""

    def make(**overrides: Any) -> IssuedKey:
        values: dict[str, Any] = {"partner": partner, "plan": plan, "name": "Optus TV app"}
        values.update(overrides)
        with django_capture_on_commit_callbacks(execute=True):
            issued = key_issue(actor=None, **values)
        issued.key.refresh_from_db()
        return issued

    return make


@pytest.fixture
def admin_client(admin_user: User) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


T0 = datetime(2026, 3, 10, 12, 0, 0, tzinfo=UTC)
