"""Rights on content items: set by the bulk upsert only, validated, republished, applied first."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import time_machine
import yaml
from django.core.management import call_command

from content.models import ContentItem
from content.services import NO_RIGHTS, BulkValidationError, ContentRights, ContentRow, content_upsert_bulk
from markets.models import Market
from portal.audit.models import AuditEntry
from portal.shared_tables.items import build_content
from portal.shared_tables.models import OutboxEntry
from tests.api.conftest import db_state
from tests.factories import MarketFactory
from tests.shared_tables.conftest import assert_schema_valid

pytestmark = pytest.mark.django_db
URL = "/api/v1/content/bulk-upsert/"


@pytest.fixture
def fr(db: None) -> Market:
    return MarketFactory(code="FR", name="France", languages=["fr"], timezone="Europe/Paris")


def row(n: int, **overrides: Any) -> dict[str, Any]:
    return {
        "upstream_id": f"doc-{n}",
        "content_type": "video",
        "title": f"Documentary {n}",
        "source": "natgeo-tv",
        "language": "en",
        "published_at": "2026-02-01T10:00:00+01:00",
        "tags": ["polar"],
        **overrides,
    }


def test_ingestion_sets_rights_and_they_are_published_on_the_content_item(
    fr: Market, de: Market, client_for: Callable[[str | None], Any]
) -> None:
    # Given the ingestion pipeline (an editor's token)
    client = client_for("editor")

    # When it sends a documentary not licensed in FR and one available from 2027 only in DE
    response = client.post(
        URL,
        {
            "items": [
                row(1, rights={"deny": ["FR"]}),
                row(2, rights={"allow": ["de"], "starts_at": "2027-01-01T00:00:00Z"}),
                row(3),
            ]
        },
        format="json",
    )

    # Then the rights are stored (codes upper-cased) and read back by the API
    assert response.status_code == 200, response.json()
    one = client.get("/api/v1/content/doc-1/").json()
    assert one["rights"] == {"allow": [], "deny": ["FR"], "starts_at": None, "ends_at": None}
    two = ContentItem.objects.get(upstream_id="doc-2")
    assert two.rights_allow == ["DE"] and two.rights_starts_at == datetime(2027, 1, 1, tzinfo=UTC)
    assert client.get("/api/v1/content/doc-3/").json()["rights"] is None
    # And shown in plain words
    assert ContentItem.objects.get(upstream_id="doc-1").rights_summary == ["Not licensed in FR"]
    assert two.rights_summary == ["Only in DE", "Available from 2027-01-01"]
    # And the `content` shared item carries them (null when the item has none)
    items = build_content(["doc-1", "doc-2", "doc-3"])
    assert items["doc-1"]["rights"] == {"allow": [], "deny": ["FR"], "starts_at": None, "ends_at": None}
    assert items["doc-2"]["rights"] == {
        "allow": ["DE"],
        "deny": [],
        "starts_at": "2027-01-01T00:00:00Z",
        "ends_at": None,
    }
    assert items["doc-3"]["rights"] is None
    assert_schema_valid("content", list(items.values()))


def test_a_rights_change_republishes_the_item_omitting_rights_keeps_them_and_null_removes_them(
    fr: Market, client_for: Callable[[str | None], Any]
) -> None:
    client = client_for("editor")
    client.post(URL, {"items": [row(1, rights={"deny": ["FR"]})]}, format="json")
    item = ContentItem.objects.get(upstream_id="doc-1")
    assert item.version == 1

    # When the same row comes again without `rights`: nothing changes (a pipeline that does not
    # know about rights never clears them)
    again = client.post(URL, {"items": [row(1)]}, format="json").json()
    assert again["unchanged"] == ["doc-1"]
    item.refresh_from_db()
    assert item.rights_deny == ["FR"] and item.version == 1

    # When the licence changes: a new version, an audit entry and an outbox row for the item
    client.post(
        URL, {"items": [row(1, rights={"deny": ["FR"], "ends_at": "2028-01-01T00:00:00Z"})]}, format="json"
    )
    item.refresh_from_db()
    assert item.version == 2 and item.rights_ends_at == datetime(2028, 1, 1, tzinfo=UTC)
    update = AuditEntry.objects.get(action="content.update", object_id="doc-1")
    assert update.after == {"rights_ends_at": "2028-01-01T00:00:00+00:00"}
    assert OutboxEntry.objects.filter(kind="content", key="doc-1", version=2).exists()

    # When rights are sent as null: removed, republished
    client.post(URL, {"items": [row(1, rights=None)]}, format="json")
    item.refresh_from_db()
    assert not item.has_rights and item.version == 3
    assert OutboxEntry.objects.filter(kind="content", key="doc-1", version=3).exists()
    assert build_content(["doc-1"])["doc-1"]["rights"] is None


@pytest.mark.parametrize(
    ("rights", "message"),
    [
        ({"deny": ["ZZ"]}, "Unknown market code(s) in deny: ZZ."),
        ({"allow": ["FR", "XX"]}, "Unknown market code(s) in allow: XX."),
        ({"allow": ["FR"], "deny": ["fr"]}, "FR cannot be both allowed and denied"),
        (
            {"starts_at": "2027-01-01T00:00:00Z", "ends_at": "2026-01-01T00:00:00Z"},
            "The availability window must end after it starts",
        ),
        (
            {"starts_at": "2027-01-01T00:00:00Z", "ends_at": "2027-01-01T00:00:00Z"},
            "The availability window must end after it starts",
        ),
    ],
)
def test_bad_rights_are_row_errors_and_nothing_is_written(
    fr: Market, rights: dict[str, Any], message: str, client_for: Callable[[str | None], Any]
) -> None:
    client = client_for("editor")
    before = db_state()

    response = client.post(URL, {"items": [row(1), row(2, rights=rights)]}, format="json")

    assert response.status_code == 400
    errors = response.json()["rows"]
    assert list(errors) == ["1"]
    assert any(message in text for text in errors["1"]["rights"]), errors
    assert db_state() == before


@pytest.mark.parametrize(
    "rights",
    [
        "FR",
        ["FR"],
        {"deny": "FR"},
        {"deny": [1]},
        {"deny": ["FR"], "licence": "x"},
        {"starts_at": "2027-01-01T00:00:00"},
        {"starts_at": 5},
        {"deny": ["FR" * 40]},
        {"deny": ["\x00"]},
    ],
)
def test_malformed_rights_are_400_never_500(
    fr: Market, rights: Any, client_for: Callable[[str | None], Any]
) -> None:
    client = client_for("editor")
    before = db_state()
    response = client.post(URL, {"items": [row(1, rights=rights)]}, format="json")
    assert response.status_code == 400, response.content
    assert "rights" in response.json()["rows"]["0"]
    assert db_state() == before


def test_the_service_refuses_naive_windows_and_unknown_codes_for_commands_too(fr: Market) -> None:
    def content_row(rights: ContentRights) -> ContentRow:
        return ContentRow(
            upstream_id="cmd-1",
            content_type="video",
            title="From a command",
            source="archive",
            language="en",
            published_at=datetime(2026, 1, 1, tzinfo=UTC),
            rights=rights,
        )

    with pytest.raises(BulkValidationError) as naive:
        content_upsert_bulk(actor=None, rows=[content_row(ContentRights(starts_at=datetime(2027, 1, 1)))])
    assert naive.value.row_errors[0]["rights"] == ["Give a time zone with starts_at."]
    with pytest.raises(BulkValidationError):
        content_upsert_bulk(actor=None, rows=[content_row(ContentRights(allow=("QQ",)))])
    assert not ContentItem.objects.exists()
    content_upsert_bulk(actor=None, rows=[content_row(NO_RIGHTS)])
    assert not ContentItem.objects.get().has_rights


def test_the_openapi_schema_documents_rights_and_binding(tmp_path: Path) -> None:
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    schema = yaml.safe_load(target.read_text())
    row_schema = schema["components"]["schemas"]["ContentRowRequest"]["properties"]
    assert "rights" in row_schema
    rights = schema["components"]["schemas"]["RightsRequest"]["properties"]
    assert set(rights) == {"allow", "deny", "starts_at", "ends_at"}
    assert "rights" in schema["components"]["schemas"]["ContentItem"]["properties"]
    assert "binding" in schema["components"]["schemas"]["Rule"]["properties"]
    assert "binding" in schema["components"]["schemas"]["RuleWriteRequest"]["properties"]
    assert "will_stay_hidden" in schema["components"]["schemas"]["PositionBulkResult"]["properties"]


@time_machine.travel(datetime(2026, 6, 1, tzinfo=UTC), tick=False)
def test_an_item_denied_in_fr_cannot_be_shown_there_by_anyone(
    fr: Market, de: Market, client_for: Callable[[str | None], Any]
) -> None:
    # Given a documentary not licensed in FR
    editor = client_for("editor")
    editor.post(URL, {"items": [row(1, rights={"deny": ["FR"]})]}, format="json")

    # When the editor, then an admin, show it in FR
    shown = editor.put("/api/v1/markets/FR/positions/doc-1/", {"state": "shown"}, format="json")
    assert shown.status_code == 200
    admin = client_for("admin_user")
    pinned = admin.put("/api/v1/markets/FR/positions/doc-1/", {"state": "pinned", "slot": 1}, format="json")
    assert pinned.status_code == 200

    # Then FR still hides it, and the resolver says why; DE shows it by default
    fr_answer = admin.get("/api/v1/markets/FR/resolve?content_id=doc-1").json()
    assert fr_answer["visible"] is False and fr_answer["decided_by"] == "rights"
    assert fr_answer["reason"] == "Not licensed in FR"
    de_answer = admin.get("/api/v1/markets/DE/resolve?content_id=doc-1").json()
    assert de_answer["visible"] is True

    # And the bulk API says so when someone shows it in FR again
    bulk = editor.post(
        "/api/v1/markets/FR/positions/bulk/",
        {"content_ids": ["doc-1"], "markets": ["FR", "DE"], "state": "promoted", "boost": 2},
        format="json",
    ).json()
    assert bulk["will_stay_hidden"] == [
        {"market": "FR", "reason": "not licensed in FR", "count": 1, "content_ids": ["doc-1"]}
    ]


@time_machine.travel(datetime(2026, 6, 1, tzinfo=UTC), tick=False)
def test_an_embargoed_item_says_until_when(fr: Market, client_for: Callable[[str | None], Any]) -> None:
    client = client_for("editor")
    client.post(URL, {"items": [row(1, rights={"starts_at": "2027-01-01T00:00:00Z"})]}, format="json")
    answer = client.get("/api/v1/markets/FR/resolve?content_id=doc-1").json()
    assert answer["visible"] is False and answer["reason"] == "Not licensed in FR until 2027-01-01"
    later = client.get("/api/v1/markets/FR/resolve?content_id=doc-1&at=2027-01-01T00:00:00Z").json()
    assert later["visible"] is True
