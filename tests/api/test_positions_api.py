"""/api/v1/markets/{code}/positions/: list, read/put/delete one with ETags, bulk set."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine

from content.models import ContentItem, Position
from markets.models import Market
from portal.audit.models import AuditEntry
from portal.shared_tables.models import OutboxEntry
from tests.api.conftest import db_state
from tests.factories import ContentItemFactory

pytestmark = pytest.mark.django_db
ONE = "/api/v1/markets/AU/positions/vid-ocean/"
BULK = "/api/v1/markets/AU/positions/bulk/"


def test_an_item_without_a_position_reads_as_default_version_0(
    markets: dict[str, Market], items: list[ContentItem], client_for: Callable[[str | None], Any]
) -> None:
    response = client_for("editor").get(ONE)
    assert response.status_code == 200
    assert response["ETag"] == '"position-0"'
    body = response.json()
    assert (body["state"], body["version"], body["content_id"], body["market"]) == (
        "default",
        0,
        "vid-ocean",
        "AU",
    )


# Its windows are in March 2026: set them before they end (past windows are refused).
@time_machine.travel(datetime(2026, 3, 1, tzinfo=UTC), tick=False)
def test_put_sets_the_position_with_audit_outbox_and_etag(
    markets: dict[str, Market], items: list[ContentItem], client_for: Callable[[str | None], Any]
) -> None:
    # Given a campaign script that read "position-0" (nobody positioned the item yet)
    client = client_for("au_editor")

    # When it promotes the item for a week, only if still unpositioned
    response = client.put(
        ONE,
        {
            "state": "promoted",
            "boost": 3,
            "starts_at": "2026-03-02T06:00:00+11:00",
            "ends_at": "2026-03-09T06:00:00+11:00",
            "reason": "Ocean Week",
        },
        format="json",
        HTTP_IF_MATCH='"position-0"',
    )

    # Then the position is stored (UTC), versioned, audited and queued
    assert response.status_code == 200, response.json()
    assert response["ETag"] == '"position-1"'
    body = response.json()
    assert (body["state"], body["boost"], body["starts_at"], body["author"]) == (
        "promoted",
        3,
        "2026-03-01T19:00:00Z",
        "au-editor",
    )
    assert AuditEntry.objects.filter(action="position.set", via="api", object_id="vid-ocean").exists()
    assert OutboxEntry.objects.filter(kind="position", key="AU|vid-ocean", version=1).exists()


def test_put_expecting_no_position_when_one_exists_is_412(
    markets: dict[str, Market], items: list[ContentItem], client_for: Callable[[str | None], Any]
) -> None:
    # Given an editor hid the item meanwhile
    client = client_for("editor")
    client.put(ONE, {"state": "hidden", "reason": "legal"}, format="json")
    before = db_state()

    # When the script puts with If-Match "position-0"
    response = client.put(ONE, {"state": "promoted", "boost": 3}, format="json", HTTP_IF_MATCH='"position-0"')

    # Then it is refused with the editor's position, and nothing changes
    assert response.status_code == 412
    assert response.json()["current"]["state"] == "hidden"
    assert db_state() == before


@pytest.mark.parametrize("method", ["put", "delete"])
def test_stale_etag_is_412_and_changes_nothing(
    method: str, markets: dict[str, Market], items: list[ContentItem], client_for: Callable[[str | None], Any]
) -> None:
    client = client_for("editor")
    client.put(ONE, {"state": "hidden"}, format="json")
    client.put(ONE, {"state": "shown"}, format="json")
    before = db_state()
    response = getattr(client, method)(
        ONE, {"state": "pinned", "slot": 1}, format="json", HTTP_IF_MATCH='"position-1"'
    )
    assert response.status_code == 412
    assert db_state() == before


def test_delete_resets_to_default_and_keeps_the_row(
    markets: dict[str, Market], items: list[ContentItem], client_for: Callable[[str | None], Any]
) -> None:
    # Given a hidden item
    client = client_for("editor")
    client.put(ONE, {"state": "hidden"}, format="json")

    # When its position is deleted with the current ETag
    response = client.delete(ONE, HTTP_IF_MATCH='"position-1"')

    # Then the row is kept as "default" with a new version (so an older write cannot return)
    assert response.status_code == 200
    assert response["ETag"] == '"position-2"'
    position = Position.objects.get(market__code="AU", item__upstream_id="vid-ocean")
    assert (position.state, position.version) == ("default", 2)
    assert AuditEntry.objects.filter(action="position.reset").exists()


def test_putting_the_same_position_twice_keeps_the_version(
    markets: dict[str, Market], items: list[ContentItem], client_for: Callable[[str | None], Any]
) -> None:
    client = client_for("editor")
    client.put(ONE, {"state": "pinned", "slot": 2}, format="json")
    response = client.put(ONE, {"state": "pinned", "slot": 2}, format="json", HTTP_IF_MATCH='"position-1"')
    assert response.status_code == 200
    assert response["ETag"] == '"position-1"'


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"state": "promoted"}, "boost"),
        ({"state": "hidden", "boost": 2}, "boost"),
        ({"state": "pinned"}, "slot"),
        ({"state": "hidden", "slot": 1}, "slot"),
        ({"state": "pinned", "slot": 0}, "slot"),
        ({"state": "pinned", "slot": "first"}, "slot"),
        ({"state": "floating"}, "state"),
        ({}, "state"),
        (
            {"state": "hidden", "starts_at": "2026-03-09T00:00:00Z", "ends_at": "2026-03-02T00:00:00Z"},
            "ends_at",
        ),
        ({"state": "hidden", "starts_at": "2026-03-02T06:00:00"}, "starts_at"),
        ({"state": "hidden", "ends_at": 1700000000}, "ends_at"),
        ({"state": "hidden", "reason": "x" * 501}, "reason"),
        ({"state": "hidden", "reason": 5}, "reason"),
        ({"state": "hidden", "market": "DE"}, "market"),
    ],
)
def test_bad_positions_are_400_with_field_errors_and_nothing_written(
    body: dict[str, Any],
    field: str,
    markets: dict[str, Market],
    items: list[ContentItem],
    client_for: Callable[[str | None], Any],
) -> None:
    before = db_state()
    response = client_for("editor").put(ONE, body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert db_state() == before


def test_pinning_a_taken_slot_is_a_400(
    markets: dict[str, Market], items: list[ContentItem], client_for: Callable[[str | None], Any]
) -> None:
    client = client_for("editor")
    client.put("/api/v1/markets/AU/positions/art-hunt/", {"state": "pinned", "slot": 1}, format="json")
    response = client.put(ONE, {"state": "pinned", "slot": 1}, format="json")
    assert response.status_code == 400
    assert "art-hunt" in response.json()["slot"][0]


def test_unknown_content_or_market_is_a_404(
    markets: dict[str, Market], items: list[ContentItem], client_for: Callable[[str | None], Any]
) -> None:
    client = client_for("editor")
    assert client.get("/api/v1/markets/AU/positions/nope/").status_code == 404
    assert (
        client.put("/api/v1/markets/AU/positions/nope/", {"state": "hidden"}, format="json").status_code
        == 404
    )
    assert (
        client.put("/api/v1/markets/ZZ/positions/vid-ocean/", {"state": "hidden"}, format="json").status_code
        == 404
    )
    assert not Position.objects.exists()


def test_list_filters_by_state_with_item_ids_in_constant_queries(
    markets: dict[str, Market], client_for: Callable[[str | None], Any], django_assert_max_num_queries: Any
) -> None:
    # Given 50 positions in AU (half hidden) and one in DE
    made = [ContentItemFactory() for _ in range(50)]
    for n, item in enumerate(made):
        Position.objects.create(market=markets["AU"], item=item, state="hidden" if n % 2 else "shown")
    Position.objects.create(market=markets["DE"], item=made[0], state="hidden")
    client = client_for("au_manager")

    # When AU's hidden positions are listed: session, user, grants, market, page (items joined)
    with django_assert_max_num_queries(5):
        response = client.get("/api/v1/markets/AU/positions/?state=hidden&page_size=100")

    # Then 25 come back with their content ids
    results = response.json()["results"]
    assert len(results) == 25
    assert {r["content_id"] for r in results} == {item.upstream_id for n, item in enumerate(made) if n % 2}
    assert {r["market"] for r in results} == {"AU"}


# Its windows are in March 2026: set them before they end (past windows are refused).
@time_machine.travel(datetime(2026, 3, 1, tzinfo=UTC), tick=False)
def test_bulk_sets_one_change_in_several_markets(
    markets: dict[str, Market], items: list[ContentItem], client_for: Callable[[str | None], Any]
) -> None:
    # Given Mia (editor everywhere) selecting two items
    client = client_for("editor")

    # When she promotes them in AU and DE for a week
    response = client.post(
        BULK,
        {
            "content_ids": ["vid-ocean", "clip-plain"],
            "markets": ["AU", "de"],
            "state": "promoted",
            "boost": 3,
            "ends_at": "2026-03-09T00:00:00Z",
            "reason": "Ocean Week",
        },
        format="json",
    )

    # Then four positions are set, none refused
    assert response.status_code == 200, response.json()
    assert response.json() == {"changed": 4, "unchanged": 0, "refused": [], "will_stay_hidden": []}
    assert Position.objects.filter(state="promoted", boost=3, reason="Ocean Week").count() == 4
    # And repeating it changes nothing
    again = client.post(
        BULK,
        {
            "content_ids": ["vid-ocean", "clip-plain"],
            "markets": ["AU", "DE"],
            "state": "promoted",
            "boost": 3,
            "ends_at": "2026-03-09T00:00:00Z",
            "reason": "Ocean Week",
        },
        format="json",
    )
    assert again.json() == {"changed": 0, "unchanged": 4, "refused": [], "will_stay_hidden": []}


def test_bulk_defaults_to_the_url_market(
    markets: dict[str, Market], items: list[ContentItem], client_for: Callable[[str | None], Any]
) -> None:
    response = client_for("au_editor").post(
        BULK, {"content_ids": ["vid-ocean"], "state": "hidden"}, format="json"
    )
    assert response.json()["changed"] == 1
    assert list(Position.objects.values_list("market__code", flat=True)) == ["AU"]


def test_bulk_refuses_markets_the_caller_may_not_edit_and_unknown_items(
    markets: dict[str, Market], items: list[ContentItem], client_for: Callable[[str | None], Any]
) -> None:
    # Given the AU editor asking for AU and DE, with one unknown content id
    response = client_for("au_editor").post(
        BULK,
        {"content_ids": ["vid-ocean", "art-hunt", "ghost"], "markets": ["AU", "DE"], "state": "hidden"},
        format="json",
    )

    # Then AU is changed, DE refused as a whole, and the unknown id refused by name
    body = response.json()
    assert response.status_code == 200
    assert body["changed"] == 2
    assert {
        "market": "DE",
        "content_id": "",
        "reason": "You may not edit positions in DE.",
        "count": 2,
    } in body["refused"]
    assert {"market": "", "content_id": "ghost", "reason": "Content item not found.", "count": 1} in body[
        "refused"
    ]
    assert not Position.objects.filter(market__code="DE").exists()


def test_bulk_pin_takes_consecutive_slots_and_refuses_taken_ones(
    markets: dict[str, Market], items: list[ContentItem], client_for: Callable[[str | None], Any]
) -> None:
    client = client_for("editor")
    client.put("/api/v1/markets/AU/positions/clip-plain/", {"state": "pinned", "slot": 2}, format="json")
    response = client.post(
        BULK, {"content_ids": ["vid-ocean", "art-hunt"], "state": "pinned", "slot": 1}, format="json"
    )
    body = response.json()
    assert body["changed"] == 1
    assert [(r["content_id"], r["market"]) for r in body["refused"]] == [("art-hunt", "AU")]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"content_ids": [], "state": "hidden"}, "content_ids"),
        ({"content_ids": "vid-ocean", "state": "hidden"}, "content_ids"),
        ({"content_ids": [1, 2], "state": "hidden"}, "content_ids"),
        ({"content_ids": ["vid-ocean"], "state": "hidden", "markets": ["XX", "AU"]}, "markets"),
        ({"content_ids": ["vid-ocean"], "state": "hidden", "markets": ["AU-NOPE"]}, "markets"),
        ({"content_ids": ["vid-ocean"], "state": "hidden", "markets": []}, "markets"),
        ({"content_ids": ["vid-ocean"], "state": "promoted"}, "boost"),
        ({"content_ids": ["vid-ocean"], "state": "hidden", "starts_at": "2026-01-01T00:00:00"}, "starts_at"),
        ({"content_ids": ["vid-ocean"], "state": "hidden", "extra": 1}, "extra"),
    ],
)
def test_bad_bulk_requests_are_400_and_change_nothing(
    body: dict[str, Any],
    field: str,
    markets: dict[str, Market],
    items: list[ContentItem],
    client_for: Callable[[str | None], Any],
) -> None:
    before = db_state()
    response = client_for("editor").post(BULK, body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert db_state() == before


def test_bulk_accepts_10000_ids_and_refuses_10001(
    markets: dict[str, Market], items: list[ContentItem], client_for: Callable[[str | None], Any]
) -> None:
    client = client_for("editor")
    before = db_state()
    too_many = client.post(
        BULK, {"content_ids": [f"x-{n}" for n in range(10_001)], "state": "hidden"}, format="json"
    )
    assert too_many.status_code == 400
    assert "10,000" in too_many.json()["content_ids"][0]
    assert db_state() == before

    ids = ["vid-ocean", *[f"x-{n}" for n in range(9_999)]]
    ok = client.post(BULK, {"content_ids": ids, "state": "hidden"}, format="json")
    assert ok.status_code == 200
    assert ok.json()["changed"] == 1
    assert len(ok.json()["refused"]) == 9_999
