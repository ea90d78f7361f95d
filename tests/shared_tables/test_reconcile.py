"""Reconcile: the database's projection against the tables, on both backends; report and repair."""

from __future__ import annotations

from typing import Any

import pytest

from content.models import ContentItem
from content.services import PositionChange, position_set
from markets.models import Market
from markets.services import market_update, rule_create
from portal.shared_tables.models import OutboxKind
from portal.shared_tables.outbox import outbox_enqueue_many
from portal.shared_tables.publisher import drain
from portal.shared_tables.reconcile import reconcile
from positioning.tables import PutRequest, SharedTables
from tests.factories import ContentItemFactory, TagFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def published(tables: SharedTables, au: Market, de: Market, settings: Any) -> list[ContentItem]:
    """AU and DE with a rule and positions, everything published; later changes are not."""
    TagFactory(slug="ocean")
    items = [ContentItemFactory(upstream_id=f"c-{n}", tag_slugs=["ocean"]) for n in range(3)]
    rule_create(actor=None, market=au, action="hide", match_tags=["ocean"])
    for item in items:
        position_set(actor=None, market=au, item=item, change=PositionChange(state="promoted", boost=2))
    position_set(actor=None, market=de, item=items[0], change=PositionChange(state="hidden"))
    # Markets and items made by factories have no outbox rows: queue them as the services would.
    outbox_enqueue_many(kind=OutboxKind.CONTENT, entries=[(i.upstream_id, i.version) for i in items])
    outbox_enqueue_many(kind=OutboxKind.MARKET, entries=[(m.code, m.version) for m in (au, de)])
    assert drain().dead == 0
    return items


def counts(report: Any) -> dict[str, dict[str, int]]:
    found = {
        kind.table: {category: drift.count for category, drift in kind.drift.items() if drift.count}
        for kind in report.kinds
    }
    return {table: drift for table, drift in found.items() if drift}


def test_published_tables_reconcile_clean(tables: SharedTables, published: list[ContentItem]) -> None:
    # Given everything published, when reconciled, then there is no drift
    report = reconcile()
    assert report.clean, list(report.lines())
    assert {k.table: (k.in_database, k.in_table) for k in report.kinds if k.table != "images"} == {
        "markets": (2, 2),
        "positions": (4, 4),
        "content": (3, 3),
    }


def test_drift_is_found_and_repaired(
    tables: SharedTables, published: list[ContentItem], au: Market, settings: Any
) -> None:
    # Given a lost item, an unpublished change, a hand-edited item and an orphan
    tables.delete_if_version("positions", ("AU", "c-1"), 1)
    settings.SHARED_TABLES_PUBLISH_ON_COMMIT = False
    market_update(actor=None, market=au, name="Australia (new)")
    tampered = dict(tables.get_item("content", ("c-2",)) or {})
    tables.put_if_newer([PutRequest("content", {**tampered, "tags": ["hacked"]})], allow_equal=True)
    tables.put_if_newer([PutRequest("positions", {"market": "AU", "content_id": "ghost", "version": 4})])

    # When reconciled without repair
    report = reconcile()

    # Then each is reported in its category, and nothing is changed
    assert counts(report) == {
        "markets": {"stale": 1},
        "positions": {"missing": 1, "extra": 1},
        "content": {"mismatched": 1},
    }
    positions = next(k for k in report.kinds if k.table == "positions")
    assert positions.drift["missing"].samples == ["AU|c-1"]
    assert positions.drift["extra"].samples == ["AU|ghost"]
    assert tables.get_item("positions", ("AU", "c-1")) is None

    # When reconciled with repair
    repaired = reconcile(repair=True)

    # Then all four are repaired and a second pass is clean
    assert sum(k.repaired for k in repaired.kinds) == 4
    assert reconcile().clean
    assert tables.get_item("markets", ("AU",))["name"] == "Australia (new)"  # type: ignore[index]
    assert tables.get_item("content", ("c-2",))["tags"] == ["ocean"]  # type: ignore[index]
    assert tables.get_item("positions", ("AU", "ghost")) is None


def test_a_table_ahead_of_the_database_is_reported_not_repaired(
    tables: SharedTables, published: list[ContentItem]
) -> None:
    # Given a position whose table version is beyond the database's (an old backup restored)
    item = dict(tables.get_item("positions", ("DE", "c-0")) or {})
    tables.put_if_newer([PutRequest("positions", {**item, "version": 99, "state": "shown"})])

    # When reconciled with repair
    report = reconcile(repair=True)

    # Then it is reported as ahead and left alone (the version rule forbids going back)
    assert counts(report) == {"positions": {"ahead": 1}}
    assert tables.get_item("positions", ("DE", "c-0"))["version"] == 99  # type: ignore[index]


def test_a_market_scoped_reconcile_reads_only_that_market(
    tables: SharedTables, published: list[ContentItem]
) -> None:
    # Given drift in DE and in AU
    tables.delete_if_version("positions", ("DE", "c-0"), 1)
    tables.delete_if_version("positions", ("AU", "c-0"), 1)

    # When only AU is reconciled and repaired
    report = reconcile(market="AU", repair=True)

    # Then AU's market item and positions are compared (content is not per market), and DE is untouched
    assert [k.table for k in report.kinds] == ["markets", "positions"]
    assert counts(report) == {"positions": {"missing": 1}}
    assert tables.get_item("positions", ("AU", "c-0")) is not None
    assert tables.get_item("positions", ("DE", "c-0")) is None
