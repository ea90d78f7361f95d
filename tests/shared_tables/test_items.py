"""Items built from committed database state: shapes (JSON Schemas), one query per batch, 400 KB."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from accounts.models import User
from content.models import ContentItem, Position
from content.services import PositionChange, item_tags_update, position_reset, position_set
from markets.models import Market
from markets.selectors import market_spec
from markets.services import market_item_size_error, rule_create, rule_update
from portal.shared_tables.items import (
    build_content,
    build_markets,
    build_positions,
    builder_for,
)
from positioning.reader import market_from_item
from positioning.tables import SCHEMA_VERSION, item_size
from tests.factories import ContentItemFactory, TagFactory
from tests.shared_tables.conftest import assert_schema_valid

pytestmark = pytest.mark.django_db

JUNE = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture
def tagged(db: None) -> list[ContentItem]:
    for slug in ("hunting", "ocean", "wildlife"):
        TagFactory(slug=slug)
    return [
        ContentItemFactory(upstream_id="vid-1", content_type="video", tag_slugs=["ocean", "wildlife"]),
        ContentItemFactory(upstream_id="art-1", tag_slugs=["hunting"]),
        ContentItemFactory(upstream_id="clip-1", content_type="clip", source="partner"),
    ]


# Its promote rule's window is in June 2026: created before it ends (past windows are refused).
@time_machine.travel(datetime(2026, 3, 1, tzinfo=UTC), tick=False)
def test_market_items_carry_settings_and_rules_in_one_query(
    au: Market, de: Market, tagged: list[ContentItem], django_assert_num_queries: Any
) -> None:
    # Given AU with a hide rule and a windowed promote rule, DE without rules
    hide = rule_create(actor=None, market=au, action="hide", match_tags=["hunting"], note="youth review")
    promote = rule_create(
        actor=None,
        market=au,
        action="promote",
        match_content_types=["video"],
        match_sources=["natgeo-editorial"],
        boost=3,
        starts_at=JUNE,
        ends_at=datetime(2026, 6, 8, tzinfo=UTC),
    )
    au.refresh_from_db()

    # When both market items are built (markets with rules; their groups; XX is no market code,
    # so it is looked up as a group)
    with django_assert_num_queries(3):
        items = build_markets(["AU", "DE", "XX"])

    # Then each market has its item (the unknown one none), valid per the schema
    assert set(items) == {"AU", "DE"}
    assert_schema_valid("markets", list(items.values()))
    assert items["AU"]["version"] == au.version
    assert items["DE"]["rules"] == []
    assert items["AU"]["rules"] == [
        {
            "id": str(hide.pk),
            "action": "hide",
            "match": {"tags": ["hunting"], "content_types": [], "sources": []},
            "boost": 0,
            "starts_at": None,
            "ends_at": None,
            "note": "youth review",
            "binding": False,
        },
        {
            "id": str(promote.pk),
            "action": "promote",
            "match": {"tags": [], "content_types": ["video"], "sources": ["natgeo-editorial"]},
            "boost": 3,
            "starts_at": "2026-06-01T00:00:00Z",
            "ends_at": "2026-06-08T00:00:00Z",
            "note": "",
            "binding": False,
        },
    ]


def test_a_market_item_reads_back_as_the_same_resolver_spec(au: Market, tagged: list[ContentItem]) -> None:
    # Given AU with rules
    rule_create(actor=None, market=au, action="hide", match_tags=["hunting"], note="n")
    rule_create(actor=None, market=au, action="promote", match_tags=["ocean"], boost=2, starts_at=JUNE)

    # When its item is built and read back the way the public API reads it
    published = market_from_item(build_markets(["AU"])["AU"])

    # Then the resolver sees exactly what the portal's own preview sees
    assert published.spec == market_spec(au)


def test_position_items_are_built_in_one_query_for_many_markets(
    au: Market, de: Market, tagged: list[ContentItem], django_assert_num_queries: Any
) -> None:
    # Given positions in two markets, including a reset one
    vid, art, _ = tagged
    position_set(
        actor=None, market=au, item=vid, change=PositionChange(state="promoted", boost=5, reason="Ocean")
    )
    position_set(
        actor=None,
        market=de,
        item=art,
        change=PositionChange(state="pinned", slot=2, starts_at=JUNE, section="top"),
    )
    position_set(actor=None, market=au, item=art, change=PositionChange(state="hidden"))
    position_reset(actor=None, market=au, item=art)

    # When three of them (and a pair nobody positioned) are built
    with django_assert_num_queries(1):
        items = build_positions(["AU|vid-1", "DE|art-1", "AU|art-1", "DE|vid-1"])

    # Then exactly the asked positions come back, valid, and the reset one keeps state "default"
    assert set(items) == {"AU|vid-1", "DE|art-1", "AU|art-1"}
    assert_schema_valid("positions", list(items.values()))
    assert items["AU|vid-1"] | {"updated_at": None} == {
        "market": "AU",
        "content_id": "vid-1",
        "state": "promoted",
        "boost": 5,
        "slot": None,
        "section": "",
        "starts_at": None,
        "ends_at": None,
        "reason": "Ocean",
        "version": 1,
        "updated_at": None,
        "schema_version": SCHEMA_VERSION,
    }
    assert (items["DE|art-1"]["slot"], items["DE|art-1"]["starts_at"]) == (2, "2026-06-01T00:00:00Z")
    assert (items["AU|art-1"]["state"], items["AU|art-1"]["version"]) == ("default", 2)


def test_content_items_carry_the_effective_tags_in_one_query(
    editor: User, tagged: list[ContentItem], django_assert_num_queries: Any
) -> None:
    # Given an editor who added "hunting" to the video and removed "wildlife" from it
    vid = tagged[0]
    item_tags_update(actor=editor, item=vid, add=["hunting"], remove=["wildlife"])

    # When the content items are built
    with django_assert_num_queries(1):
        items = build_content(["vid-1", "art-1", "clip-1", "gone"])

    # Then the tags are upstream + additions - removals, sorted; an untagged item has none
    assert_schema_valid("content", list(items.values()))
    assert items["vid-1"]["tags"] == ["hunting", "ocean"]
    assert items["vid-1"]["version"] == ContentItem.objects.get(upstream_id="vid-1").version == 2
    assert items["clip-1"] | {"updated_at": None} == {
        "content_id": "clip-1",
        "content_type": "clip",
        "source": "partner",
        "tags": [],
        "rights": None,
        "version": 1,
        "updated_at": None,
        "schema_version": SCHEMA_VERSION,
    }
    assert "gone" not in items


def test_builders_are_registered_per_outbox_kind() -> None:
    # Given the kinds this module builds (images register their own builder from the content app)
    # Then each has a builder writing to its table
    assert {k: builder_for(k).table for k in ("market", "position", "content")} == {  # type: ignore[union-attr]
        "market": "markets",
        "position": "positions",
        "content": "content",
    }
    assert builder_for("no-such-kind") is None


# Notes are bounded (2,000 characters), so a market reaches DynamoDB's 400 KB only with hundreds of
# rules; these tests lower the limit the services check against instead, to keep them small.
SMALL_LIMIT = 3_000


@pytest.fixture
def small_item_limit(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr("markets.services.MAX_ITEM_BYTES", SMALL_LIMIT)
    return SMALL_LIMIT


def test_a_rule_that_would_overflow_the_market_item_is_refused(
    au: Market, tagged: list[ContentItem], small_item_limit: int
) -> None:
    # Given AU with a rule carrying a long note
    rule_create(actor=None, market=au, action="hide", match_tags=["hunting"], note="n" * 1_500)
    au.refresh_from_db()
    assert market_item_size_error(au) is None

    # When a manager adds another rule with a long note
    with pytest.raises(ValidationError) as refused:
        rule_create(actor=None, market=au, action="hide", match_tags=["ocean"], note="m" * 1_500)

    # Then it is a clear validation error, not a publisher crash, and nothing was saved
    message = refused.value.message_dict[NON_FIELD_ERRORS][0]
    assert f"{small_item_limit // 1024} KB" in message and "AU" in message
    assert au.rules.count() == 1


def test_updating_a_rule_counts_its_new_size_not_both(
    au: Market, tagged: list[ContentItem], small_item_limit: int
) -> None:
    # Given AU with one rule with a note of more than half the limit
    rule = rule_create(actor=None, market=au, action="hide", match_tags=["hunting"], note="n" * 1_600)

    # When its note is replaced by another as long, the rule is accepted (it replaces itself)
    updated = rule_update(actor=None, rule=rule, note="m" * 1_600)
    assert updated.note.startswith("m")

    # And when the market's item would grow past the limit, it is refused
    rule_create(actor=None, market=au, action="hide", match_tags=["ocean"], note="o" * 800)
    with pytest.raises(ValidationError):
        rule_update(actor=None, rule=rule, note="x" * 2_000)


def test_the_size_check_agrees_with_the_built_item(
    au: Market, tagged: list[ContentItem], small_item_limit: int
) -> None:
    # Given a market just under the limit
    rule_create(actor=None, market=au, action="hide", match_tags=["hunting"], note="n" * 2_000)
    au.refresh_from_db()

    # When its item is built, then it fits, as the check said
    item = build_markets(["AU"])["AU"]
    assert item_size(item) <= small_item_limit
    assert Position.objects.count() == 0
