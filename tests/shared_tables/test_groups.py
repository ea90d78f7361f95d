"""Groups in the shared tables: one `markets` item per group, group positions under the group's
code, market items listing their groups in priority order; reconcile covers them."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.models import User
from content.models import ContentItem
from content.services import PositionChange, group_position_set
from markets.groups.services import group_create, group_member_add, group_member_remove, group_rule_create
from markets.models import Market, MarketGroup
from portal.shared_tables.items import build_markets, build_positions
from portal.shared_tables.models import OutboxKind
from portal.shared_tables.outbox import outbox_enqueue_many
from portal.shared_tables.publisher import drain
from portal.shared_tables.reconcile import reconcile
from positioning.tables import SharedTables
from tests.factories import ContentItemFactory, MarketFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def published(tables: SharedTables, dach: MarketGroup, fr: Market, settings: Any) -> list[ContentItem]:
    """DACH (DE, AT, CH) with a binding rule and a position, EU (DE, FR) behind it; all published."""
    eu = group_create(actor=None, code="EU", name="European Union", priority=20)
    group_member_add(actor=None, group=eu, market=Market.objects.get(code="DE"))
    group_member_add(actor=None, group=eu, market=fr)
    group_rule_create(actor=None, group=dach, action="hide", match_sources=["gossip"], binding=True)
    items = [ContentItemFactory(upstream_id=f"c-{n}") for n in range(2)]
    group_position_set(
        actor=None,
        group=dach,
        item=items[0],
        change=PositionChange(state="promoted", boost=5, reason="Alps week"),
    )
    # Items made by factories have no outbox rows: queue them as the services would.
    outbox_enqueue_many(kind=OutboxKind.CONTENT, entries=[(i.upstream_id, i.version) for i in items])
    assert drain().dead == 0
    return items


def test_a_group_is_one_markets_item_and_its_positions_are_published_once(
    tables: SharedTables, published: list[ContentItem]
) -> None:
    group = tables.get_item("markets", ("DACH",))
    assert group is not None
    assert (group["kind"], group["priority"], group["members"], group["active"]) == (
        "group",
        10,
        ["AT", "CH", "DE"],
        True,
    )
    assert [(r["action"], r["binding"]) for r in group["rules"]] == [("hide", True)]
    de = tables.get_item("markets", ("DE",))
    assert de is not None and de["kind"] == "market"
    # DE's groups in (priority, code) order; FR only in EU
    assert de["groups"] == ["DACH", "EU"]
    assert tables.get_item("markets", ("FR",))["groups"] == ["EU"]  # type: ignore[index]
    position = tables.get_item("positions", ("DACH", "c-0"))
    assert position is not None
    assert (position["state"], position["boost"], position["slot"], position["reason"]) == (
        "promoted",
        5,
        None,
        "Alps week",
    )
    # Never fanned out to the members
    for code in ("DE", "AT", "CH"):
        assert tables.get_item("positions", (code, "c-0")) is None
    assert reconcile().clean


def test_membership_changes_republish_the_market_items(
    tables: SharedTables, published: list[ContentItem]
) -> None:
    de = Market.objects.get(code="DE")
    group_member_remove(actor=None, group=MarketGroup.objects.get(code="DACH"), market=de)
    assert drain().dead == 0
    assert tables.get_item("markets", ("DE",))["groups"] == ["EU"]  # type: ignore[index]
    assert tables.get_item("markets", ("DACH",))["members"] == ["AT", "CH"]  # type: ignore[index]
    assert reconcile().clean


def test_reconcile_finds_and_repairs_a_lost_group_item_and_group_position(
    tables: SharedTables, published: list[ContentItem]
) -> None:
    group = MarketGroup.objects.get(code="DACH")
    tables.delete_if_version("markets", ("DACH",), group.version)
    tables.delete_if_version("positions", ("DACH", "c-0"), 1)
    report = reconcile(repair=True)
    missing = {kind.table: kind.drift["missing"].samples for kind in report.kinds}
    assert missing["markets"] == ["DACH"] and missing["positions"] == ["DACH|c-0"]
    assert tables.get_item("markets", ("DACH",)) is not None
    assert tables.get_item("positions", ("DACH", "c-0")) is not None
    # A group-scoped reconcile reads only the group's items
    assert reconcile(market="DACH").clean


def test_group_items_are_built_in_few_queries(
    admin_user: User, django_assert_max_num_queries: Any, published: list[ContentItem]
) -> None:
    for code in ("IT", "ES", "NL"):
        group_member_add(
            actor=None, group=MarketGroup.objects.get(code="EU"), market=MarketFactory(code=code)
        )
    with django_assert_max_num_queries(5):
        items = build_markets(["DE", "FR", "IT", "DACH", "EU"])
    assert items["EU"]["members"] == ["DE", "ES", "FR", "IT", "NL"]
    with django_assert_max_num_queries(2):
        positions = build_positions(["DACH|c-0", "DE|c-0", "EU|c-1"])
    assert set(positions) == {"DACH|c-0"}


@pytest.mark.parametrize("code", ["DE", "AT", "FR"])
def test_the_reader_decides_with_groups_exactly_like_the_portal_preview(
    tables: SharedTables, published: list[ContentItem], code: str
) -> None:
    from datetime import UTC, datetime

    from content.selectors import market_preview
    from positioning.reader import SharedTablesReader
    from positioning.resolver import Candidate

    # Given a gossip item the binding DACH rule hides, and an EU promotion that DACH's position beats in DE
    gossip = ContentItemFactory(upstream_id="c-gossip", source="gossip")
    group_position_set(
        actor=None,
        group=MarketGroup.objects.get(code="EU"),
        item=published[0],
        change=PositionChange(state="hidden", reason="EU embargo"),
    )
    group_position_set(
        actor=None,
        group=MarketGroup.objects.get(code="EU"),
        item=gossip,
        change=PositionChange(state="shown"),
    )
    outbox_enqueue_many(kind=OutboxKind.CONTENT, entries=[(gossip.upstream_id, gossip.version)])
    assert drain().dead == 0
    at = datetime.now(UTC)
    page = [
        Candidate(content_id=cid, content_type=ctype, source=source, tags=frozenset(tags))
        for cid, ctype, source, tags in ContentItem.objects.order_by("-published_at", "-id").values_list(
            "upstream_id", "content_type", "source", "upstream_tags"
        )
    ]
    # When the reader resolves the page from the shared tables alone
    feed = SharedTablesReader(tables).feed(code, page, at=at, include_hidden=True)
    # Then it equals the portal's preview: DACH (priority 10) beats EU in DE, the binding rule beats EU's show
    assert feed is not None
    preview = market_preview(market=Market.objects.get(code=code), at=at, limit=100, include_hidden=True)
    rows = [(e.candidate.content_id, e.decision) for e in feed.entries]
    assert rows == [(e.candidate.content_id, e.decision) for e in preview]
    decisions = dict(rows)
    if code == "DE":
        assert (decisions["c-0"].state, decisions["c-0"].source) == ("promoted", "DACH")
        assert (decisions["c-gossip"].state, decisions["c-gossip"].binding) == ("hidden", True)
    if code == "FR":
        assert (decisions["c-0"].state, decisions["c-0"].source) == ("hidden", "EU")
