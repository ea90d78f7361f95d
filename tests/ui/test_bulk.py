"""Bulk positioning from the board: selection or whole filter, markets, windows, summary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from content.models import ContentItem, Position
from markets.models import Market
from portal.audit.models import AuditEntry
from portal.shared_tables.models import OutboxEntry
from tests.factories import PositionFactory
from tests.ui.conftest import BASE, login


@pytest.fixture
def client(editor, au: Market, us: Market, de: Market, items: list):
    return login(editor)


def post(client, **data):
    data.setdefault("action", "hide")
    return client.post("/content/bulk/", data, HTTP_HX_REQUEST="true")


# Its windows are in March 2026: set them before they end (past windows are refused).
@time_machine.travel(datetime(2026, 3, 1, tzinfo=UTC), tick=False)
def test_hide_selected_items_in_two_markets_with_a_window_in_each_markets_time(client, items: list) -> None:
    # Given three selected items, AU and US, and a window "2 March 06:00 to 9 March 06:00" local time
    chosen = [items[0].pk, items[1].pk, items[2].pk]
    # When the editor hides them
    response = post(
        client,
        item=chosen,
        markets=["AU", "US"],
        action="hide",
        starts_at="2026-03-02T06:00",
        ends_at="2026-03-09T06:00",
        reason="Legal note",
    )
    # Then the summary counts 6 positions set, nothing refused
    html = response.content.decode()
    assert response.status_code == 200
    assert "6 positions set, 0 unchanged, 0 refused" in html
    assert response["HX-Trigger"] == "board-changed"
    # And each market's window was read in its own time zone (Sydney UTC+11, New York UTC-5)
    au_pos = Position.objects.get(market__code="AU", item=items[0])
    us_pos = Position.objects.get(market__code="US", item=items[0])
    assert au_pos.state == "hidden" and au_pos.reason == "Legal note"
    assert au_pos.starts_at == datetime(2026, 3, 1, 19, 0, tzinfo=UTC)
    assert us_pos.starts_at == datetime(2026, 3, 2, 11, 0, tzinfo=UTC)
    # New York moves to daylight time on 8 March: the end is 06:00 EDT.
    assert us_pos.ends_at == datetime(2026, 3, 9, 10, 0, tzinfo=UTC)
    # And every change is audited as one batch with outbox rows
    entries = AuditEntry.objects.filter(action="position.set")
    assert entries.count() == 6
    # (one batch for the whole action, however many time zones: shown and reverted as one change)
    batches = {str(b) for b in entries.values_list("batch", flat=True)}
    assert len(batches) == 1 and all(b in html for b in batches)
    assert f"/audit/batches/{batches.pop()}/revert/" in html  # and offers to revert it
    assert OutboxEntry.objects.filter(kind="position").count() == 6


def test_without_a_window_one_change_is_one_batch(client, items: list) -> None:
    post(client, item=[items[0].pk], markets=["AU", "US", "DE"], action="hide")
    assert AuditEntry.objects.values("batch").distinct().count() == 1


def test_repeating_the_same_change_reports_unchanged(client, items: list) -> None:
    post(client, item=[items[0].pk], markets=["AU"], action="promote", boost=3)
    html = post(client, item=[items[0].pk], markets=["AU"], action="promote", boost=3).content.decode()
    assert "0 positions set, 1 unchanged, 0 refused" in html


def test_pin_conflicts_are_refused_and_grouped_by_market_and_reason(client, au: Market, items: list) -> None:
    # Given slot 2 in AU is taken by another item
    PositionFactory(market=au, item=items[9], state="pinned", slot=2)
    # When three items are pinned from slot 1 in AU and US
    html = post(
        client, item=[items[0].pk, items[1].pk, items[2].pk], markets=["AU", "US"], action="pin", slot=1
    ).content.decode()
    # Then US takes slots 1-3, AU refuses the item that would land on slot 2
    assert "5 positions set, 0 unchanged, 1 refused" in html
    assert "<strong>AU</strong>: 1 — Slot" in html and "is already pinned for an overlapping window." in html
    assert "(ng-001)" in html
    assert dict(
        Position.objects.filter(market__code="AU", state="pinned").values_list("item__upstream_id", "slot")
    ) == {"ng-000": 1, "ng-009": 2, "ng-002": 3}
    assert list(
        Position.objects.filter(market__code="US", state="pinned")
        .order_by("slot")
        .values_list("slot", flat=True)
    ) == [1, 2, 3]


def test_all_matching_the_filter_acts_on_the_filter_not_on_ids(client, items: list) -> None:
    html = post(
        client, all_matching="1", filter="market=AU&type=video", markets=["DE"], action="promote", boost=2
    ).content.decode()
    assert "4 positions set" in html
    promoted = set(Position.objects.filter(market__code="DE").values_list("item__upstream_id", flat=True))
    assert promoted == {"ng-000", "ng-003", "ng-006", "ng-009"}


def test_all_matching_above_the_cap_changes_nothing(client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("content.views.MATCH_CAP", 3)
    response = post(client, all_matching="1", filter="market=AU&type=video", markets=["AU"])
    assert response.status_code == 422
    assert "More than 3 items match the filter" in response.content.decode()
    assert not Position.objects.exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"markets": ["AU"]}, "Select at least one item"),
        ({"item": ["1"], "markets": []}, "Choose at least one market or group."),
        (
            {"item": ["1"], "markets": ["AU"], "action": "promote"},
            "Promoting needs a boost between 1 and 1000.",
        ),
        ({"item": ["1"], "markets": ["AU"], "action": "pin"}, "Give a slot"),
        ({"item": ["1"], "markets": ["AU"], "action": "explode"}, "Select a valid choice"),
        ({"item": ["x"], "markets": ["AU"]}, "invalid item id"),
        (
            {
                "item": ["1"],
                "markets": ["AU"],
                "starts_at": "2026-03-05T10:00",
                "ends_at": "2026-03-04T10:00",
            },
            "The window must end after it starts.",
        ),
        ({"item": ["1"], "markets": ["AU"], "starts_at": "tomorrow"}, "Enter a date and time"),
        # 02:30 on 8 March 2026 does not exist in New York: clocks jump from 02:00 to 03:00.
        (
            {"item": ["1"], "markets": ["US"], "starts_at": "2026-03-08T02:30"},
            "does not exist in America/New_York",
        ),
    ],
)
def test_bad_input_is_a_422_with_the_reason_and_nothing_changes(client, data: dict, message: str) -> None:
    response = post(client, **data)
    assert response.status_code == 422
    html = response.content.decode()
    assert "Nothing was changed." in html and message in html
    assert not Position.objects.exists()


def test_markets_the_user_cannot_see_are_refused(au_editor, us: Market, items: list) -> None:
    # An AU editor cannot name US, which they cannot even see.
    response = post(login(au_editor), item=[items[0].pk], markets=["AU", "US"])
    assert response.status_code == 422
    assert "You may not edit positions in US" in response.content.decode()
    assert not Position.objects.exists()


def test_without_htmx_the_summary_is_a_page(client, items: list) -> None:
    response = client.post("/content/bulk/", {"item": [items[0].pk], "markets": ["AU"], "action": "show"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" in html and "1 position set, 0 unchanged, 0 refused" in html


def test_reset_returns_items_to_the_rules(client, au: Market, items: list) -> None:
    PositionFactory(market=au, item=items[0], state="hidden")
    html = post(client, item=[items[0].pk], markets=["AU"], action="reset").content.decode()
    assert "1 position set" in html
    assert Position.objects.get(market=au, item=items[0]).state == "default"


def test_ten_thousand_matching_items_in_one_change(editor, au: Market, us: Market) -> None:
    # Given exactly 10,000 items match the filter (the cap)
    ContentItem.objects.bulk_create(
        ContentItem(
            upstream_id=f"bulk-{n:05d}",
            content_type="clip",
            title=f"Clip {n}",
            source="archive",
            language="en",
            published_at=BASE - timedelta(seconds=n),
        )
        for n in range(10_000)
    )
    client = login(editor)
    # When the editor promotes all of them in AU, in one request
    with CaptureQueriesContext(connection) as ctx:
        response = post(
            client, all_matching="1", filter="market=AU&type=clip", markets=["AU"], action="promote", boost=1
        )
    # Then all 10,000 are set in one transaction, in batches, not one query per item
    assert "10,000 positions set, 0 unchanged, 0 refused" in response.content.decode()
    assert Position.objects.filter(market=au, state="promoted").count() == 10_000
    assert len(ctx.captured_queries) < 1_000
