"""JSON endpoints outside /api/ (the reference feed, the partner probe) are GET-only and answer any
other method with a JSON 405, never Django's HTML CSRF page (issue #12)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

pytestmark = pytest.mark.django_db

SAMPLE_PATHS = {"feed:market": "/feed/v1/AU", "partners:probe": "/partners/probe/"}


def _patterns(resolver: URLResolver, namespace: str = "") -> Iterator[tuple[str, URLPattern]]:
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _patterns(entry, inner)
        else:
            yield f"{namespace}{entry.name}", entry


def partner_endpoints() -> list[str]:
    """The names of every routed view behind `require_partner_key`."""
    return sorted(
        name
        for name, pattern in _patterns(get_resolver())
        if getattr(pattern.callback, "partner_endpoint", False)
    )


def test_every_partner_endpoint_has_a_sample_path() -> None:
    # A new partner endpoint must be added to SAMPLE_PATHS, so the test below covers it
    assert partner_endpoints() == sorted(SAMPLE_PATHS)


@pytest.mark.parametrize("name", sorted(SAMPLE_PATHS))
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_a_write_to_a_json_endpoint_is_a_json_405(name: str, method: str, admin_user: Any) -> None:
    # Given a browser with a session and CSRF checks (the HTML CSRF page was the old answer)
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)

    # When it sends a write to a GET-only JSON endpoint
    response = client.generic(method, SAMPLE_PATHS[name], "{}", "application/json")

    # Then it gets a JSON 405 that says which methods are allowed
    assert response.status_code == 405, response.content[:200]
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"message": "Method Not Allowed"}
    assert response["Allow"] == "GET, HEAD"
