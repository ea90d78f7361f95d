"""GET /api/v1/markets/{code}/resolve: the resolver's decision and reason for one item."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine

from content.models import ContentItem, Position
from markets.models import Market
from tests.factories import RuleFactory

pytestmark = pytest.mark.django_db


def resolve(client: Any, query: str, market: str = "AU") -> Any:
    return client.get(f"/api/v1/markets/{market}/resolve?{query}")


def test_default_visible(
    markets: dict[str, Market], items: list[ContentItem], client_for: Callable[[str | None], Any]
) -> None:
    body = resolve(client_for("editor"), "content_id=clip-plain&at=2026-03-01T00:00:00Z").json()
    assert body == {
        "content_id": "clip-plain",
        "market": "AU",
        "at": "2026-03-01T00:00:00Z",
        "visible": True,
        "state": "visible",
        "decided_by": "default",
        "step": 6,
        "source": "AU",
        "binding": False,
        "boost": 0,
        "slot": None,
        "rule_id": None,
        "reason": "Visible by default",
        "image_blocks": [],
    }


def test_opt_in_market_hides_by_default(
    markets: dict[str, Market], items: list[ContentItem], client_for: Callable[[str | None], Any]
) -> None:
    body = resolve(client_for("au_manager"), "content_id=clip-plain", market="AU-OPTUS").json()
    assert (body["visible"], body["decided_by"]) == (False, "default")


def test_a_hide_rule_decides_and_is_named(
    markets: dict[str, Market], items: list[ContentItem], client_for: Callable[[str | None], Any]
) -> None:
    rule = RuleFactory(market=markets["DE"], action="hide", match_tags=["hunting"], note="youth protection")
    body = resolve(client_for("editor"), "content_id=art-hunt", market="DE").json()
    assert (body["visible"], body["decided_by"], body["rule_id"]) == (False, "rule", str(rule.pk))
    assert "youth protection" in body["reason"]


def test_a_position_wins_only_inside_its_window(
    markets: dict[str, Market], items: list[ContentItem], client_for: Callable[[str | None], Any]
) -> None:
    # Given the ocean video pinned to slot 1 in AU for the first week of March (UTC)
    Position.objects.create(
        market=markets["AU"],
        item=items[0],
        state="pinned",
        slot=1,
        starts_at=datetime(2026, 3, 1, tzinfo=UTC),
        ends_at=datetime(2026, 3, 8, tzinfo=UTC),
    )
    client = client_for("au_editor")

    # When it is resolved at the window's start (given in Sydney time), and at its end
    inside = resolve(client, "content_id=vid-ocean&at=2026-03-01T11:00:00%2B11:00").json()
    after = resolve(client, "content_id=vid-ocean&at=2026-03-08T00:00:00Z").json()

    # Then the pin decides inside [start, end), and the default after it
    assert (inside["state"], inside["slot"], inside["decided_by"]) == ("pinned", 1, "position")
    assert inside["at"] == "2026-03-01T00:00:00Z"
    assert (after["state"], after["decided_by"]) == ("visible", "default")


def test_at_defaults_to_now(
    markets: dict[str, Market], items: list[ContentItem], client_for: Callable[[str | None], Any]
) -> None:
    with time_machine.travel(datetime(2026, 5, 4, 3, 2, 1, tzinfo=UTC), tick=False):
        body = resolve(client_for("editor"), "content_id=vid-ocean").json()
    assert body["at"] == "2026-05-04T03:02:01Z"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("", "content_id"),
        ("content_id=vid-ocean&at=tomorrow", "at"),
        ("content_id=vid-ocean&at=2026-03-01T06:00:00", "at"),
        ("content_id=vid-ocean&at=2026-13-01T06:00:00Z", "at"),
    ],
)
def test_bad_queries_are_400_with_field_errors(
    query: str,
    field: str,
    markets: dict[str, Market],
    items: list[ContentItem],
    client_for: Callable[[str | None], Any],
) -> None:
    response = resolve(client_for("editor"), query)
    assert response.status_code == 400
    assert field in response.json()


def test_unknown_content_or_market_is_a_404(
    markets: dict[str, Market], items: list[ContentItem], client_for: Callable[[str | None], Any]
) -> None:
    client = client_for("editor")
    assert resolve(client, "content_id=ghost").status_code == 404
    assert resolve(client, "content_id=vid-ocean", market="ZZ").status_code == 404


def test_resolve_reads_in_constant_queries(
    markets: dict[str, Market],
    items: list[ContentItem],
    client_for: Callable[[str | None], Any],
    django_assert_max_num_queries: Any,
) -> None:
    for n in range(20):
        RuleFactory(
            market=markets["AU"], action="promote", boost=n + 1, match_tags=[], match_sources=[f"s{n}"]
        )
    client = client_for("editor")
    # session, user, grants, market, item, item tags, rules, groups, position, the item's blocked images
    with django_assert_max_num_queries(10):
        assert resolve(client, "content_id=vid-ocean").status_code == 200
