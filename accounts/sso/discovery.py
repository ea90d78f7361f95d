"""The provider's endpoints: from settings when given, else from its discovery document.

The document is fetched on first use (never at start-up: a cold start must not wait for the
provider, and a provider outage must not break local break-glass logins) and kept per process.
"""

from __future__ import annotations

import threading
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

# Setting name → the discovery document's field.
ENDPOINTS = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
}

_documents: dict[str, dict[str, Any]] = {}
_lock = threading.Lock()


class ProviderUnavailable(ImproperlyConfigured):
    """The discovery document could not be read or does not describe the configured issuer."""


def discovery_url() -> str:
    """Return the discovery document's URL (OIDC_OP_DISCOVERY_URL, else derived from the issuer)."""
    url = str(settings.OIDC_OP_DISCOVERY_URL or "")
    if url:
        return url
    issuer = str(settings.OIDC_OP_ISSUER).rstrip("/")
    if not issuer:
        raise ImproperlyConfigured("Single sign-on needs OIDC_OP_ISSUER (or OIDC_OP_DISCOVERY_URL).")
    return f"{issuer}/.well-known/openid-configuration"


def discovery_document() -> dict[str, Any]:
    """Return the provider's discovery document (fetched once per process and URL).

    Raises ProviderUnavailable when it cannot be fetched or names another issuer.
    """
    url = discovery_url()
    with _lock:
        if url in _documents:
            return _documents[url]
    import requests  # only when single sign-on is really used

    try:
        response = requests.get(url, timeout=settings.OIDC_TIMEOUT)
        response.raise_for_status()
        document: dict[str, Any] = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise ProviderUnavailable(
            f"The identity provider's discovery document at {url} is unreadable: {exc}"
        ) from exc
    issuer = str(settings.OIDC_OP_ISSUER).rstrip("/")
    if issuer and str(document.get("issuer", "")).rstrip("/") != issuer:
        raise ProviderUnavailable(
            f"The discovery document at {url} names issuer {document.get('issuer')!r}, not {issuer!r}."
        )
    with _lock:
        _documents[url] = document
    return document


def setting(name: str, *default: Any) -> Any:
    """Return the mozilla-django-oidc setting `name`; an empty endpoint comes from discovery.

    The library reads its many optional settings by name (with its own defaults); ours are the
    endpoints, declared in portal/settings/base.py and filled from discovery when empty.
    """
    endpoints = {
        "OIDC_OP_AUTHORIZATION_ENDPOINT": settings.OIDC_OP_AUTHORIZATION_ENDPOINT,
        "OIDC_OP_TOKEN_ENDPOINT": settings.OIDC_OP_TOKEN_ENDPOINT,
        "OIDC_OP_USER_ENDPOINT": settings.OIDC_OP_USER_ENDPOINT,
        "OIDC_OP_JWKS_ENDPOINT": settings.OIDC_OP_JWKS_ENDPOINT,
    }
    if name in endpoints:
        return endpoints[name] or discovery_document()[ENDPOINTS[name]]
    from mozilla_django_oidc.utils import import_from_settings

    return import_from_settings(name, *default)


def forget() -> None:
    """Drop the cached documents (tests; a provider that moved its endpoints)."""
    with _lock:
        _documents.clear()
