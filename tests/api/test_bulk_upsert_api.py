"""POST /api/v1/content/bulk-upsert/: idempotent, all-or-nothing, per-row errors, ≤ 1,000 rows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from content.models import ContentItem, Tag
from portal.audit.models import AuditEntry
from portal.shared_tables.models import OutboxEntry
from tests.api.conftest import db_state

pytestmark = pytest.mark.django_db
URL = "/api/v1/content/bulk-upsert/"


def row(n: int, **overrides: Any) -> dict[str, Any]:
    return {
        "upstream_id": f"ing-{n:05d}",
        "content_type": "video",
        "title": f"Item {n}",
        "source": "natgeo-editorial",
        "language": "en",
        "published_at": "2026-02-01T10:00:00+11:00",
        "tags": ["Ocean", "deep sea"],
        **overrides,
    }


def test_upsert_creates_items_with_tags_audit_and_outbox(
    admin_user: Any, client_for: Callable[[str | None], Any]
) -> None:
    # Given the ingestion pipeline's token user (an editor)
    client = client_for("editor")

    # When it sends three new items
    response = client.post(URL, {"items": [row(1), row(2), row(3, premium=True)]}, format="json")

    # Then they are created with their tags (made into slugs), audited and queued for publishing
    assert response.status_code == 200, response.json()
    assert response.json() == {
        "created": ["ing-00001", "ing-00002", "ing-00003"],
        "updated": [],
        "unchanged": [],
    }
    item = ContentItem.objects.get(upstream_id="ing-00003")
    assert item.premium and sorted(t.slug for t in item.tags.all()) == ["deep-sea", "ocean"]
    assert item.published_at.isoformat() == "2026-01-31T23:00:00+00:00"
    assert set(Tag.objects.values_list("slug", flat=True)) == {"deep-sea", "ocean"}
    assert AuditEntry.objects.filter(action="content.create", via="api").count() == 3
    assert OutboxEntry.objects.filter(kind="content").count() == 3


def test_the_same_payload_twice_changes_nothing_the_second_time(
    client_for: Callable[[str | None], Any],
) -> None:
    # Given a batch already upserted (a retried, timed-out request)
    client = client_for("editor")
    payload = {"items": [row(n) for n in range(20)]}
    client.post(URL, payload, format="json")
    before = db_state()

    # When the same payload arrives again (without an Idempotency-Key, which would replay the first answer)
    response = client.post(URL, payload, format="json")

    # Then the answer says every item is unchanged and nothing was written
    assert response.status_code == 200
    body = response.json()
    assert body["created"] == [] and body["updated"] == []
    assert body["unchanged"] == [f"ing-{n:05d}" for n in range(20)]
    assert db_state() == before


def test_changed_rows_are_updated_and_others_left_alone(client_for: Callable[[str | None], Any]) -> None:
    client = client_for("editor")
    client.post(URL, {"items": [row(1), row(2)]}, format="json")
    response = client.post(URL, {"items": [row(1, title="Renamed"), row(2), row(3)]}, format="json")
    assert response.json() == {"created": ["ing-00003"], "updated": ["ing-00001"], "unchanged": ["ing-00002"]}
    assert ContentItem.objects.get(upstream_id="ing-00001").title == "Renamed"


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": 12}, "title"),
        ({"upstream_id": 42}, "upstream_id"),
        ({"content_type": "podcast"}, "content_type"),
        ({"published_at": "2026-02-01T10:00:00"}, "published_at"),
        ({"published_at": "1700-01-01T00:00:00Z"}, "published_at"),
        ({"published_at": "soon"}, "published_at"),
        ({"language": "English"}, "language"),
        ({"url": "not a url"}, "url"),
        ({"tags": "ocean"}, "tags"),
        ({"tags": ["!!!"]}, "tags"),
        ({"premium": "maybe"}, "premium"),
        ({"titel": "typo"}, "titel"),
        ({"upstream_id": "ing-00000"}, "upstream_id"),  # a duplicate of row 0 in the same request
    ],
)
def test_one_bad_row_rejects_the_whole_batch_with_its_row_errors(
    bad: dict[str, Any], field: str, client_for: Callable[[str | None], Any]
) -> None:
    # Given a batch of five rows where row 3 is bad
    client = client_for("editor")
    items = [row(n) for n in range(5)]
    items[3] = {**items[3], **bad}
    before = db_state()

    # When it is sent
    response = client.post(URL, {"items": items}, format="json")

    # Then nothing is written and the error names row 3 and its field
    assert response.status_code == 400, response.content
    body = response.json()
    assert "nothing was written" in body["detail"]
    assert list(body["rows"]) == ["3"]
    assert field in body["rows"]["3"]
    assert db_state() == before


def test_a_row_that_is_not_an_object_is_a_row_error(client_for: Callable[[str | None], Any]) -> None:
    response = client_for("editor").post(URL, {"items": [row(0), "oops", None]}, format="json")
    assert response.status_code == 400
    assert set(response.json()["rows"]) == {"1", "2"}
    assert not ContentItem.objects.exists()


def test_more_than_1000_rows_are_refused_before_anything_is_written(
    client_for: Callable[[str | None], Any],
) -> None:
    response = client_for("editor").post(URL, {"items": [row(n) for n in range(1001)]}, format="json")
    assert response.status_code == 400
    assert "1,000" in response.json()["items"][0]
    assert not ContentItem.objects.exists()


def test_exactly_1000_rows_are_accepted(client_for: Callable[[str | None], Any]) -> None:
    response = client_for("editor").post(URL, {"items": [row(n) for n in range(1000)]}, format="json")
    assert response.status_code == 200
    assert len(response.json()["created"]) == 1000
    assert ContentItem.objects.count() == 1000


@pytest.mark.parametrize("body", [{}, {"items": "all"}, {"items": {"a": 1}}, [row(1)], {"rows": [row(1)]}])
def test_a_body_without_an_items_list_is_a_400(body: Any, client_for: Callable[[str | None], Any]) -> None:
    response = client_for("editor").post(URL, body, format="json")
    assert response.status_code == 400
    assert "items" in response.json()


def test_malformed_json_is_a_400(client_for: Callable[[str | None], Any]) -> None:
    response = client_for("editor").post(URL, '{"items": [', content_type="application/json")
    assert response.status_code == 400
