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

from accounts.models import User
from accounts.partners import enforcement
from accounts.partners.enforcement import PartnerLimiter
from accounts.partners.gateway import set_gateway
from accounts.partners.gateway.sqlite_limits import SQLiteStorage
from accounts.partners.models import Partner, UsagePlan
from accounts.partners.services import IssuedKey, PlanInput, key_issue, partner_create, plan_create
from accounts.partners.traffic.recorder import get_recorder

# Redis runs beside PostgreSQL on every development and CI machine; db 15 is the tests' own.
REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/15"


def _redis_reachable() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


# In CI an unreachable Redis must fail the run, never silently skip the Redis half of the suite.
_SKIP_REDIS = not os.environ.get("CI") and not _redis_reachable()
STORAGES = [
    "sqlite",
    pytest.param(
        "redis",
        marks=pytest.mark.skipif(_SKIP_REDIS, reason=f"Redis is not reachable at {REDIS_URL}"),
    ),
]
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
    """Every partners test: the local gateway, its own SQLite limiter."""
    settings.GATEWAY_BACKEND = "local"
    settings.API_GATEWAY_STAGES = [STAGE]
    settings.PARTNER_KEY_CACHE_SECONDS = 0
    set_gateway(None)
    limiter = PartnerLimiter(SQLiteStorage(path=tmp_path / "default-limits.sqlite3"))
    enforcement.set_limiter(limiter)
    enforcement._last_used_written.clear()
    get_recorder().discard()
    yield limiter
    get_recorder().discard()
    enforcement.set_limiter(None)
    set_gateway(None)


@pytest.fixture(params=STORAGES)
def limiter(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PartnerLimiter]:
    """A limiter over each storage the deployment may use (Redis only when REDIS_URL is set)."""
    storage, cleanup = make_storage(request.param, tmp_path)
    built = PartnerLimiter(storage)
    enforcement.set_limiter(built)
    yield built
    enforcement.set_limiter(None)  # flushes its daily counts first, so the cleanup sees them all
    cleanup()


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


# --- API Gateway on a real moto server -------------------------------------------------------------
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "eu-west-1",
}


@pytest.fixture(scope="session")
def apigw_moto_url() -> Iterator[str]:
    """A moto server on 127.0.0.1 (a free port) for the whole session."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{server.get_host_and_port()[1]}"
    server.stop()


@pytest.fixture
def apigateway(
    apigw_moto_url: str, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> Iterator[dict[str, Any]]:
    """The apigateway backend against a freshly reset moto, with a REST API and its `prod` stage.

    Yields {"client": a boto3 client for assertions, "api_id", "stage": "apiId:prod"}.
    """
    import boto3
    import requests

    for name, value in FAKE_AWS_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    settings.AWS_ENDPOINT_URL_APIGATEWAY = apigw_moto_url
    requests.post(f"{apigw_moto_url}/moto-api/reset", timeout=5)
    # The backend finds moto through settings.AWS_ENDPOINT_URL_APIGATEWAY; this client is the tests' own.
    client = boto3.client("apigateway", region_name="eu-west-1", endpoint_url=apigw_moto_url)
    api_id = client.create_rest_api(name="content-api")["id"]
    root = client.get_resources(restApiId=api_id)["items"][0]["id"]
    client.put_method(
        restApiId=api_id, resourceId=root, httpMethod="GET", authorizationType="NONE", apiKeyRequired=True
    )
    client.put_integration(restApiId=api_id, resourceId=root, httpMethod="GET", type="MOCK")
    client.create_deployment(restApiId=api_id, stageName="prod")
    settings.GATEWAY_BACKEND = "apigateway"
    settings.API_GATEWAY_STAGES = [f"{api_id}:prod"]
    set_gateway(None)
    yield {"client": client, "api_id": api_id, "stage": f"{api_id}:prod"}
    set_gateway(None)
