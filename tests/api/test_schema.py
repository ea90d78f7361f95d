"""The OpenAPI schema generates cleanly, and the docs are served from the sidecar (offline)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import call_command

from accounts.services import api_token_create

pytestmark = pytest.mark.django_db


def test_schema_generates_valid_with_no_warnings(tmp_path: Path) -> None:
    # --fail-on-warn makes any warning or error a SystemExit; --validate checks it against OpenAPI 3
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    schema = yaml.safe_load(target.read_text())
    paths = set(schema["paths"])
    assert {
        "/api/v1/markets/",
        "/api/v1/markets/{code}/",
        "/api/v1/markets/{code}/rules/",
        "/api/v1/markets/{code}/rules/{id}/",
        "/api/v1/content/",
        "/api/v1/content/{upstream_id}/",
        "/api/v1/content/bulk-upsert/",
        "/api/v1/content/{upstream_id}/tags/",
        "/api/v1/tags/",
        "/api/v1/markets/{code}/positions/",
        "/api/v1/markets/{code}/positions/{content_id}/",
        "/api/v1/markets/{code}/positions/bulk/",
        "/api/v1/markets/{code}/resolve",
        "/api/v1/tokens/",
        "/api/v1/tokens/{id}/",
    } <= paths
    security = {next(iter(s)) for s in schema["paths"]["/api/v1/markets/"]["get"]["security"]}
    assert {"tokenAuth", "cookieAuth"} <= security


def test_schema_endpoint_answers(client_for: Callable[[str | None], Any]) -> None:
    response = client_for("nobody").get("/api/schema/?format=json")
    assert response.status_code == 200
    assert response.json()["info"]["title"] == "Meridian API"


@pytest.mark.parametrize("path", ["/api/schema/", "/api/schema/?format=json", "/api/docs/", "/api/redoc/"])
def test_the_schema_and_its_pages_need_a_signed_in_user_or_a_token(
    path: str, client_for: Callable[[str | None], Any], nobody: Any
) -> None:
    # Given an anonymous caller, a signed-in user without any role, and an API token
    anonymous = client_for(None)
    signed_in = client_for("nobody")
    scripted = client_for(None)
    secret = api_token_create(actor=nobody, user=nobody, name="schema reader").secret
    scripted.credentials(HTTP_AUTHORIZATION=f"Token {secret}")

    # When each asks for the schema or its docs page
    # Then the anonymous caller is refused (401, as the API refuses) and the others are served
    assert anonymous.get(path).status_code == 401
    assert signed_in.get(path).status_code == 200
    assert scripted.get(path).status_code == 200


def test_docs_page_is_served_from_the_sidecar(client_for: Callable[[str | None], Any]) -> None:
    response = client_for("editor").get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    # Offline: nothing is loaded from a CDN
    assert "cdn.jsdelivr.net" not in html and "unpkg.com" not in html
