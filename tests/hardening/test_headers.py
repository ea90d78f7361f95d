"""Security headers and cookie flags on rendered pages, with the production settings' own values."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from http.cookies import Morsel
from types import ModuleType
from typing import Any

import pytest
from django.test import Client, override_settings
from django.urls import reverse

from accounts.models import User

HOST = "meridian.example.com"
PRODUCTION_ENV = {
    "SECRET_KEY": "x" * 60 + "not-a-real-secret-but-long-and-random-enough-ABCDEF0123456789",
    "DATABASE_URL": "postgres://meridian@db.internal:5432/meridian",
    "ALLOWED_HOSTS": HOST,
    "SHARED_TABLES_PREFIX": "meridian-prod-",
    "STATIC_BUCKET": "meridian-static",
    "AWS_REGION": "eu-west-1",
}
# What the browser sees; the database, storages and AWS settings stay the test ones.
SECURITY_SETTINGS = (
    "DEBUG",
    "ALLOWED_HOSTS",
    "SECURE_PROXY_SSL_HEADER",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_CONTENT_TYPE_NOSNIFF",
    "SECURE_REFERRER_POLICY",
    "SECURE_CROSS_ORIGIN_OPENER_POLICY",
    "SESSION_COOKIE_SECURE",
    "SESSION_COOKIE_HTTPONLY",
    "CSRF_COOKIE_SECURE",
    "CSRF_COOKIE_HTTPONLY",
    "X_FRAME_OPTIONS",
    "CONTENT_SECURITY_POLICY",
)


def _load_production(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    for name, value in PRODUCTION_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("CSP_IMG_HOSTS", raising=False)
    # A fresh import: the module reads the environment once, at import time.
    sys.modules.pop("portal.settings.production", None)
    try:
        return importlib.import_module("portal.settings.production")
    finally:
        sys.modules.pop("portal.settings.production", None)


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    module = _load_production(monkeypatch)
    values = {name: getattr(module, name) for name in SECURITY_SETTINGS}
    with override_settings(**values):
        yield values


def _https_client() -> Client:
    # TLS ends at API Gateway, which tells Django through X-Forwarded-Proto.
    return Client(HTTP_HOST=HOST, HTTP_X_FORWARDED_PROTO="https")


def _assert_security_headers(headers: Any) -> None:
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert headers["X-Content-Type-Options"] == "nosniff"
    policy = {part.strip() for part in headers["Content-Security-Policy"].split(";")}
    static = "https://meridian-static.s3.eu-west-1.amazonaws.com"
    assert f"script-src 'self' {static}" in policy
    assert f"style-src 'self' {static}" in policy
    assert {"default-src 'self'", "frame-ancestors 'none'", "object-src 'none'", "base-uri 'self'"} <= policy
    assert "form-action 'self'" in policy and "connect-src 'self'" in policy
    assert not any("unsafe" in part for part in policy)


def _assert_cookie_flags(cookie: Morsel[str]) -> None:
    assert cookie["secure"] is True
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"


@pytest.mark.django_db
def test_login_page_and_dashboard_carry_every_header_and_cookie_flag(
    production: dict[str, Any], editor: User
) -> None:
    client = _https_client()
    # Given the login page, which sets the CSRF cookie
    login_page = client.get(reverse("login"))
    assert login_page.status_code == 200
    _assert_security_headers(login_page.headers)
    _assert_cookie_flags(login_page.cookies["csrftoken"])
    # When the user logs in
    editor.set_password("pw-for-tests")
    editor.save()
    logged_in = client.post(reverse("login"), {"username": "editor", "password": "pw-for-tests"})
    assert logged_in.status_code == 302
    # Then the session cookie is Secure, HttpOnly and SameSite=Lax
    _assert_cookie_flags(logged_in.cookies["sessionid"])
    # And the dashboard carries every header too
    dashboard = client.get(reverse("dashboard"))
    assert dashboard.status_code == 200
    assert "Dashboard" in dashboard.content.decode()
    _assert_security_headers(dashboard.headers)


@pytest.mark.django_db
def test_plain_http_is_redirected_to_https(production: dict[str, Any]) -> None:
    response = Client(HTTP_HOST=HOST).get(reverse("login"))
    assert response.status_code == 301
    assert response["Location"] == f"https://{HOST}/accounts/login/"


def test_production_trusts_only_the_address_api_gateway_appended(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the production client-IP function that axes uses for lockouts
    module = _load_production(monkeypatch)
    from django.test import RequestFactory

    factory = RequestFactory()
    # When a client forges an X-Forwarded-For entry, API Gateway appends the real address last
    forged = factory.get("/", HTTP_X_FORWARDED_FOR="10.0.0.1, 203.0.113.9", REMOTE_ADDR="127.0.0.1")
    # Then the real address is used, not the forged one
    assert module.AXES_CLIENT_IP_CALLABLE(forged) == "203.0.113.9"
    # And with no header (a direct call), the socket address
    assert module.AXES_CLIENT_IP_CALLABLE(factory.get("/", REMOTE_ADDR="192.0.2.4")) == "192.0.2.4"


@pytest.mark.django_db
def test_local_pages_also_deny_framing_and_carry_the_policy() -> None:
    # The defaults in base.py apply on a laptop too, so a template that breaks the CSP shows early.
    response = Client().get(reverse("login"))
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
