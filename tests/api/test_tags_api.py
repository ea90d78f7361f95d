"""/api/v1/tags/ and POST /api/v1/content/{id}/tags/: listing, creating, editors' tag changes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from content.models import ContentItem, Tag, TagEdit
from portal.audit.models import AuditEntry
from portal.shared_tables.models import OutboxEntry
from tests.api.conftest import db_state
from tests.factories import TagFactory

pytestmark = pytest.mark.django_db


def test_list_tags_by_slug_with_constant_queries(
    client_for: Callable[[str | None], Any], django_assert_max_num_queries: Any
) -> None:
    for n in range(30):
        TagFactory(slug=f"t-{n:02d}")
    client = client_for("au_manager")
    with django_assert_max_num_queries(4):
        response = client.get("/api/v1/tags/?page_size=100")
    assert [t["slug"] for t in response.json()["results"]] == [f"t-{n:02d}" for n in range(30)]


def test_editor_creates_a_tag(client_for: Callable[[str | None], Any]) -> None:
    response = client_for("editor").post("/api/v1/tags/", {"slug": "polar", "label": "Polar"}, format="json")
    assert response.status_code == 201
    assert response.json() == {"slug": "polar", "label": "Polar"}
    assert AuditEntry.objects.filter(action="tag.create", via="api").exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"slug": "ocean"}, "slug"),  # exists
        ({"slug": "not a slug!"}, "slug"),
        ({"slug": 5}, "slug"),
        ({}, "slug"),
        ({"slug": "ok", "colour": "red"}, "colour"),
    ],
)
def test_bad_tags_are_400(
    body: dict[str, Any], field: str, tags: dict[str, Tag], client_for: Callable[[str | None], Any]
) -> None:
    before = db_state()
    response = client_for("editor").post("/api/v1/tags/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert db_state() == before


def test_editor_adds_and_removes_tags_on_an_item(
    items: list[ContentItem], client_for: Callable[[str | None], Any]
) -> None:
    # Given the ocean video (tagged ocean upstream)
    client = client_for("au_editor")

    # When an editor adds wildlife and removes ocean
    response = client.post(
        "/api/v1/content/vid-ocean/tags/", {"add": ["wildlife"], "remove": ["ocean"]}, format="json"
    )

    # Then the effective tags change, the edits are remembered, and the item is republished
    assert response.status_code == 200, response.json()
    assert response.json()["tags"] == ["wildlife"]
    assert response.json()["upstream_tags"] == ["ocean"]
    assert TagEdit.objects.filter(item__upstream_id="vid-ocean").count() == 2
    assert OutboxEntry.objects.filter(kind="content", key="vid-ocean", version=2).exists()


@pytest.mark.parametrize(
    "body",
    [
        {"add": ["unicorns"]},
        {"add": ["ocean"], "remove": ["ocean"]},
        {"add": "ocean"},
        {"add": [1]},
        {"tags": ["ocean"]},
    ],
)
def test_bad_tag_changes_are_400_and_change_nothing(
    body: dict[str, Any], items: list[ContentItem], client_for: Callable[[str | None], Any]
) -> None:
    before = db_state()
    response = client_for("editor").post("/api/v1/content/vid-ocean/tags/", body, format="json")
    assert response.status_code == 400, response.content
    assert db_state() == before


def test_tagging_an_unknown_item_is_a_404(
    tags: dict[str, Tag], client_for: Callable[[str | None], Any]
) -> None:
    response = client_for("editor").post("/api/v1/content/nope/tags/", {"add": ["ocean"]}, format="json")
    assert response.status_code == 404
