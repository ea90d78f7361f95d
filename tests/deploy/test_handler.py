"""Zappa's real handler, driven with API Gateway proxy events, serves Meridian."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from accounts.models import User
from accounts.services import api_token_create
from bench.coldstart import api_gateway_event
from markets.models import Market
from tests.deploy.handler_support import zappa_handler
from tests.deploy.zappa_stages import ROOT

CUSTOM_DOMAIN = "meridian.example.com"
EXECUTE_API = "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"


def http_api_event(raw_path: str, *, host: str, stage: str) -> dict[str, Any]:
    """Return an HTTP API (payload 2.0) event, whose rawPath carries the stage on execute-api."""
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": "",
        "headers": {"host": host, "x-forwarded-proto": "https", "x-forwarded-for": "203.0.113.7"},
        "requestContext": {
            "domainName": host,
            "http": {"method": "GET", "path": raw_path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7"},
            "requestId": "test",
            "routeKey": "$default",
            "stage": stage,
        },
        "isBase64Encoded": False,
    }


@pytest.fixture
def production_like(settings: Any) -> Any:
    settings.ALLOWED_HOSTS = [CUSTOM_DOMAIN]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_SSL_REDIRECT = True
    return settings


def test_healthcheck_on_the_custom_domain(production_like: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    with zappa_handler("prod_use1", monkeypatch) as handler:
        response = handler.handler(
            api_gateway_event("/healthcheck", host=CUSTOM_DOMAIN, stage="prod_use1"), None
        )
    assert response["statusCode"] == 200
    assert response["body"].strip() == "ok"
    assert response["headers"]["Cache-Control"] == "no-store"


@pytest.mark.parametrize("path", ["/healthcheck", "/prod_use1/healthcheck"])
def test_healthcheck_on_the_execute_api_host_with_and_without_the_stage_in_the_path(
    path: str, production_like: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given Route 53 probing the regional execute-api host, which is not in ALLOWED_HOSTS and
    # whose URLs carry the /<stage> prefix
    event = api_gateway_event(path, host=EXECUTE_API, stage="prod_use1")
    with zappa_handler("prod_use1", monkeypatch) as handler:
        response = handler.handler(event, None)
    # then it still answers "ok"
    assert (response["statusCode"], response["body"].strip()) == (200, "ok")


def test_healthcheck_through_an_http_api_whose_raw_path_carries_the_stage(
    production_like: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = http_api_event("/dev/healthcheck", host=EXECUTE_API, stage="dev")
    with zappa_handler("dev", monkeypatch) as handler:
        response = handler.handler(event, None)
    assert (response["statusCode"], response["body"].strip()) == (200, "ok")


def test_other_pages_on_the_execute_api_host_are_refused(
    production_like: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = api_gateway_event("/accounts/login/", host=EXECUTE_API, stage="prod_use1")
    with zappa_handler("prod_use1", monkeypatch) as handler:
        response = handler.handler(event, None)
    assert response["statusCode"] == 400


@pytest.mark.django_db
def test_login_page(production_like: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    with zappa_handler("prod_use1", monkeypatch) as handler:
        response = handler.handler(api_gateway_event("/accounts/login/", host=CUSTOM_DOMAIN), None)
    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"].startswith("text/html")
    assert 'name="password"' in response["body"]
    assert "csrfmiddlewaretoken" in response["body"]


@pytest.mark.django_db
def test_login_page_over_plain_http_redirects_to_https(
    production_like: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = api_gateway_event("/accounts/login/", host=CUSTOM_DOMAIN)
    event["headers"]["X-Forwarded-Proto"] = "http"  # type: ignore[index]
    with zappa_handler("prod_use1", monkeypatch) as handler:
        response = handler.handler(event, None)
    assert response["statusCode"] == 301
    assert response["headers"]["Location"] == f"https://{CUSTOM_DOMAIN}/accounts/login/"


@pytest.mark.django_db
def test_authenticated_rest_call_with_a_token(
    production_like: Any, monkeypatch: pytest.MonkeyPatch, editor: User, au: Market, de: Market
) -> None:
    # given an automation token of an editor in every market
    secret = api_token_create(actor=editor, user=editor, name="ingestion pipeline").secret
    event = api_gateway_event("/api/v1/markets/", host=CUSTOM_DOMAIN)
    event["headers"]["Authorization"] = f"Token {secret}"  # type: ignore[index]
    # when the pipeline lists markets through API Gateway
    with zappa_handler("prod_use1", monkeypatch) as handler:
        response = handler.handler(event, None)
    # then it gets them as JSON
    assert response["statusCode"] == 200, response.get("body")
    body = json.loads(response["body"])
    assert {market["code"] for market in body["results"]} == {"AU", "DE"}


@pytest.mark.parametrize("authorization", [None, "Token not-a-valid-secret"])
@pytest.mark.django_db
def test_rest_call_without_a_valid_token_is_refused(
    authorization: str | None, production_like: Any, monkeypatch: pytest.MonkeyPatch, au: Market
) -> None:
    event = api_gateway_event("/api/v1/markets/", host=CUSTOM_DOMAIN)
    if authorization:
        event["headers"]["Authorization"] = authorization  # type: ignore[index]
    with zappa_handler("prod_use1", monkeypatch) as handler:
        response = handler.handler(event, None)
    assert response["statusCode"] in (401, 403)
    assert "AU" not in response["body"]


BOTO3_PROBE = """
import sys
import django
django.setup()
from django.test import Client
response = Client().get("/healthcheck", HTTP_HOST="abc.execute-api.us-east-1.amazonaws.com")
assert response.status_code == 200 and response.content.strip() == b"ok", response
heavy = sorted(name for name in ("boto3", "botocore", "storages.backends.s3") if name in sys.modules)
print("LOADED=" + ",".join(heavy))
"""


def test_boto3_is_not_loaded_by_django_setup_and_a_healthcheck() -> None:
    # given a fresh interpreter with the production settings and Lambda-like environment
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "portal.settings.production",
            "SECRET_KEY": "s" * 64,
            "DATABASE_URL": "postgres://meridian@db.internal:5432/meridian",
            "ALLOWED_HOSTS": CUSTOM_DOMAIN,
            "SHARED_TABLES_PREFIX": "meridian-test-",
            "STATIC_URL": "https://static.meridian.example.com/",
            "INSTANTIATE_LAMBDA_HANDLER_ON_IMPORT": "True",
        }
    )
    # when Django starts and answers Route 53's probe
    result = subprocess.run(
        [sys.executable, "-c", BOTO3_PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    # then neither boto3 nor the S3 storage was imported
    assert result.returncode == 0, result.stderr
    assert "LOADED=\n" in result.stdout
