"""Fixtures for the single sign-on suites: a real provider, and Meridian configured for it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.test import Client

from accounts.sso import discovery
from tests.sso.provider import Provider, running_provider

CLIENT_ID = "meridian-tests"


@pytest.fixture
def provider() -> Iterator[Provider]:
    with running_provider() as running:
        yield running


def configure_sso(settings: Any, provider: Provider, **overrides: Any) -> None:
    """Switch single sign-on on against `provider`, as the environment would in production."""
    settings.OIDC_ENABLED = True
    settings.OIDC_PROVIDER_NAME = "Acme ID"
    settings.OIDC_OP_ISSUER = provider.issuer
    settings.OIDC_OP_DISCOVERY_URL = ""
    for name in discovery.ENDPOINTS:
        setattr(settings, name, "")
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = "not-checked-by-the-mock"
    settings.AUTHENTICATION_BACKENDS = [*settings.AUTHENTICATION_BACKENDS, "accounts.sso.backends.SsoBackend"]
    middleware = list(settings.MIDDLEWARE)
    middleware.insert(
        middleware.index("axes.middleware.AxesMiddleware"), "accounts.sso.refresh.SsoSessionRefresh"
    )
    settings.MIDDLEWARE = middleware
    for name, value in overrides.items():
        setattr(settings, name, value)
    discovery.forget()


@pytest.fixture
def sso(settings: Any, provider: Provider) -> Iterator[Provider]:
    """Single sign-on on, against the running provider (endpoints from its discovery document)."""
    configure_sso(settings, provider)
    yield provider
    discovery.forget()


def start_login(client: Client, next_url: str = "/") -> str:
    """Open Meridian's "Sign in with …" link; return the provider's authorization URL."""
    response = client.get(f"/accounts/sso/login/?next={next_url}")
    assert response.status_code == 302
    return str(response["Location"])


def finish_login(client: Client, callback_url: str) -> Any:
    """Follow the provider's redirect back to Meridian's callback (as the browser would)."""
    parts = urlsplit(callback_url)
    return client.get(f"{parts.path}?{parts.query}")


def sso_login(client: Client, provider: Provider, sub: str, **claims: Any) -> Any:
    """Sign in through the provider as `sub` with `claims`; return Meridian's last answer."""
    provider.set_user(sub, **claims)
    authorize_url = start_login(client)
    return finish_login(client, provider.sign_in(authorize_url, sub))
