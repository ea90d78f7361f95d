"""Positions: set, reset, pin conflicts, bulk changes, versions, audit and outbox."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db.models import F

from accounts.access import AccessDenied
from accounts.models import User
from content.models import ContentItem, Position
from content.services import (
    ContentRow,
    PositionChange,
    content_upsert_bulk,
    position_reset,
    position_set,
    positions_bulk_set,
)
from markets.models import Market
from portal.audit.models import AuditEntry
from portal.errors import Conflict
from portal.shared_tables.models import OutboxEntry
from tests.factories import ContentItemFactory, PositionFactory

pytestmark = pytest.mark.django_db

JAN = datetime(2026, 1, 1, tzinfo=UTC)
FEB = datetime(2026, 2, 1, tzinfo=UTC)
MAR = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
def item() -> ContentItem:
    return ContentItemFactory(upstream_id="doc-1", title="The last hunters")


def test_editor_hides_an_item_in_a_market(editor: User, au: Market, item: ContentItem) -> None:
    position = position_set(
        actor=editor, market=au, item=item, change=PositionChange(state="hidden", reason="Legal note")
    )
    assert position.state == "hidden" and position.version == 1 and position.author == editor
    entry = AuditEntry.objects.get(action="position.set")
    assert (entry.market_code, entry.object_id, entry.actor_name) == ("AU", "doc-1", "editor")
    assert entry.before is None and entry.after["state"] == "hidden"
    assert OutboxEntry.objects.filter(kind="position", key="AU|doc-1", version=1).exists()


def test_reset_keeps_the_row_as_default_and_grows_the_version(
    editor: User, au: Market, item: ContentItem
) -> None:
    position_set(actor=editor, market=au, item=item, change=PositionChange(state="hidden"))
    position = position_reset(actor=editor, market=au, item=item)
    assert position.state == "default" and position.version == 2
    assert Position.objects.count() == 1
    assert OutboxEntry.objects.filter(key="AU|doc-1", version=2).exists()


def test_repeating_the_same_change_writes_nothing(editor: User, au: Market, item: ContentItem) -> None:
    change = PositionChange(state="promoted", boost=3)
    position_set(actor=editor, market=au, item=item, change=change)
    position_set(actor=editor, market=au, item=item, change=change)
    assert Position.objects.get().version == 1
    assert AuditEntry.objects.count() == 1


def test_stale_expected_version_is_a_conflict(editor: User, au: Market, item: ContentItem) -> None:
    position_set(
        actor=editor, market=au, item=item, change=PositionChange(state="hidden"), expected_version=0
    )
    with pytest.raises(Conflict) as conflict:
        position_set(
            actor=editor, market=au, item=item, change=PositionChange(state="shown"), expected_version=0
        )
    assert conflict.value.current["state"] == "hidden"
    assert Position.objects.get().state == "hidden"


def test_au_editor_is_refused_in_de(au_editor: User, de: Market, item: ContentItem) -> None:
    with pytest.raises(AccessDenied):
        position_set(actor=au_editor, market=de, item=item, change=PositionChange(state="hidden"))
    assert not Position.objects.exists()
    assert not AuditEntry.objects.exists()


def test_reviewer_may_not_set_positions(reviewer: User, au: Market, item: ContentItem) -> None:
    with pytest.raises(AccessDenied):
        position_set(actor=reviewer, market=au, item=item, change=PositionChange(state="hidden"))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (PositionChange(state="promoted"), "boost"),
        (PositionChange(state="pinned"), "slot"),
        (PositionChange(state="hidden", boost=2), "boost"),
        (PositionChange(state="shown", slot=1), "slot"),
        (PositionChange(state="vanished"), "state"),
        (PositionChange(state="hidden", starts_at=FEB, ends_at=JAN), "ends_at"),
        (PositionChange(state="hidden", starts_at=datetime(2026, 1, 1)), "starts_at"),  # noqa: DTZ001
        (PositionChange(state="hidden", reason="x" * 501), "reason"),
    ],
)
def test_incoherent_changes_are_refused_with_field_errors(
    editor: User, au: Market, item: ContentItem, change: PositionChange, field: str
) -> None:
    with pytest.raises(ValidationError) as error:
        position_set(actor=editor, market=au, item=item, change=change)
    assert field in error.value.message_dict
    assert not Position.objects.exists()


# Its windows start in January 2026: set them before they end (past windows are refused).
@time_machine.travel(datetime(2025, 12, 1, tzinfo=UTC), tick=False)
def test_one_pin_per_slot_for_overlapping_windows(editor: User, au: Market) -> None:
    first, second, third = ContentItemFactory.create_batch(3)
    position_set(
        actor=editor,
        market=au,
        item=first,
        change=PositionChange(state="pinned", slot=1, starts_at=JAN, ends_at=FEB),
    )
    with pytest.raises(ValidationError) as error:
        position_set(actor=editor, market=au, item=second, change=PositionChange(state="pinned", slot=1))
    assert "already taken by" in error.value.message_dict["slot"][0]
    # a window that starts when the first ends does not overlap ([start, end) windows)
    position_set(
        actor=editor,
        market=au,
        item=third,
        change=PositionChange(state="pinned", slot=1, starts_at=FEB, ends_at=MAR),
    )
    assert Position.objects.filter(state="pinned", slot=1).count() == 2


# Its windows start in January 2026: set them before they end (past windows are refused).
@time_machine.travel(datetime(2025, 12, 1, tzinfo=UTC), tick=False)
def test_bulk_promote_in_two_markets(
    editor: User, au: Market, us: Market, django_assert_max_num_queries
) -> None:
    items = ContentItemFactory.create_batch(40)
    with django_assert_max_num_queries(20):
        result = positions_bulk_set(
            actor=editor,
            markets=[au, us],
            item_ids=[i.pk for i in items],
            change=PositionChange(state="promoted", boost=3, starts_at=JAN, ends_at=FEB, reason="Ocean Week"),
        )
    assert (result.changed, result.unchanged, result.refused_count) == (80, 0, 0)
    assert Position.objects.filter(state="promoted", boost=3).count() == 80
    assert AuditEntry.objects.filter(action="position.set", batch=result.batch).count() == 80
    assert OutboxEntry.objects.filter(kind="position").count() == 80


def test_bulk_refuses_markets_the_user_may_not_edit(au_editor: User, au: Market, de: Market) -> None:
    items = ContentItemFactory.create_batch(5)
    result = positions_bulk_set(
        actor=au_editor,
        markets=[au, de],
        item_ids=[i.pk for i in items],
        change=PositionChange(state="hidden"),
    )
    assert result.changed == 5
    assert [(r.market_code, r.count) for r in result.refused] == [("DE", 5)]
    assert not Position.objects.filter(market=de).exists()


def test_bulk_is_idempotent_and_versions_grow(editor: User, au: Market) -> None:
    items = ContentItemFactory.create_batch(3)
    ids = [i.pk for i in items]
    positions_bulk_set(actor=editor, markets=[au], item_ids=ids, change=PositionChange(state="hidden"))
    again = positions_bulk_set(
        actor=editor, markets=[au], item_ids=ids, change=PositionChange(state="hidden")
    )
    assert (again.changed, again.unchanged) == (0, 3)
    positions_bulk_set(actor=editor, markets=[au], item_ids=ids, change=PositionChange(state="default"))
    assert set(Position.objects.values_list("version", "state")) == {(2, "default")}


def test_bulk_pin_gives_consecutive_slots_and_refuses_taken_ones(editor: User, au: Market) -> None:
    taken, *items = ContentItemFactory.create_batch(4)
    position_set(actor=editor, market=au, item=taken, change=PositionChange(state="pinned", slot=2))
    result = positions_bulk_set(
        actor=editor,
        markets=[au],
        item_ids=[i.pk for i in items],
        change=PositionChange(state="pinned", slot=1),
    )
    assert result.changed == 2
    assert [r.content_id for r in result.refused] == [items[1].upstream_id]
    slots = dict(Position.objects.filter(item__in=items).values_list("item__upstream_id", "slot"))
    assert slots == {items[0].upstream_id: 1, items[2].upstream_id: 2 + 1}


def test_bulk_with_an_incoherent_change_writes_nothing(editor: User, au: Market) -> None:
    items = ContentItemFactory.create_batch(3)
    with pytest.raises(ValidationError):
        positions_bulk_set(
            actor=editor,
            markets=[au],
            item_ids=[i.pk for i in items],
            change=PositionChange(state="promoted"),
        )
    assert not Position.objects.exists()


def test_bulk_pin_refuses_when_a_resulting_slot_would_pass_the_last(editor: User, au: Market) -> None:
    # given three items, when they are pinned from slot 999 (999, 1000, 1001)
    items = ContentItemFactory.create_batch(3)
    with pytest.raises(ValidationError) as refused:
        positions_bulk_set(
            actor=editor,
            markets=[au],
            item_ids=[i.pk for i in items],
            change=PositionChange(state="pinned", slot=999),
        )
    # then the whole bulk is refused on the slot and nothing is stored
    assert "1001" in str(refused.value.message_dict["slot"])
    assert not Position.objects.exists()


def test_bulk_pin_may_end_exactly_on_the_last_slot(editor: User, au: Market) -> None:
    items = ContentItemFactory.create_batch(2)
    result = positions_bulk_set(
        actor=editor,
        markets=[au],
        item_ids=[i.pk for i in items],
        change=PositionChange(state="pinned", slot=999),
    )
    assert result.changed == 2
    assert sorted(Position.objects.values_list("slot", flat=True)) == [999, 1000]


# --- The positions' copy of their item's published_at (the board's index) -----------------------


def test_every_write_path_keeps_positions_sorted_like_their_items(
    editor: User, au: Market, de: Market
) -> None:

    # Given items positioned through every path: one write, a bulk write, a pin and a factory row
    items = [ContentItemFactory() for _ in range(4)]
    position_set(actor=editor, market=au, item=items[0], change=PositionChange(state="hidden"))
    positions_bulk_set(
        actor=editor,
        markets=[au, de],
        item_ids=[i.pk for i in items[:3]],
        change=PositionChange(state="shown"),
    )
    position_set(actor=editor, market=de, item=items[3], change=PositionChange(state="pinned", slot=2))
    PositionFactory(market=au, item=items[3], state="promoted", boost=1)

    # When ingestion moves two items' publication times
    moved = datetime(2025, 1, 2, tzinfo=UTC)
    rows = [
        ContentRow(
            upstream_id=item.upstream_id,
            content_type=item.content_type,
            title=item.title,
            source=item.source,
            language=item.language,
            published_at=moved,
            tags=(),
        )
        for item in items[:2]
    ]
    content_upsert_bulk(actor=editor, rows=rows)

    # Then every position carries its item's time, and the moved ones the new one
    assert Position.objects.count() == 8
    assert not Position.objects.exclude(item_published_at=F("item__published_at")).exists()
    assert set(Position.objects.filter(item__in=items[:2]).values_list("item_published_at", flat=True)) == {
        moved
    }
    assert ContentItem.objects.filter(published_at=moved).count() == 2
