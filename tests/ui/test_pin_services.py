"""content.services.pins.pins_reorder: moving pinned slots up and down, swapping on conflict."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError

from accounts.access import AccessDenied
from content.models import Position
from content.services.pins import pins_reorder
from markets.models import Market
from portal.audit.models import AuditEntry
from portal.errors import Conflict
from portal.shared_tables.models import OutboxEntry
from tests.factories import PositionFactory

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def slots(market: Market) -> dict[str, int | None]:
    return dict(
        Position.objects.filter(market=market, state="pinned").values_list("item__upstream_id", "slot")
    )


def test_moving_onto_a_taken_slot_swaps_the_two(editor, au: Market, items: list) -> None:
    # Given ng-000 in slot 1 and ng-001 in slot 2
    PositionFactory(market=au, item=items[0], state="pinned", slot=1, reason="Launch week")
    second = PositionFactory(market=au, item=items[1], state="pinned", slot=2)
    # When ng-001 moves up
    moved = pins_reorder(actor=editor, market=au, position=second, direction="up", expected_version=1)
    # Then they swap, keep their reasons, and every step is audited and queued for publishing
    assert moved.slot == 1
    assert slots(au) == {"ng-000": 2, "ng-001": 1}
    assert Position.objects.get(item=items[0], market=au).reason == "Launch week"
    assert AuditEntry.objects.filter(action="position.set").count() == 3
    assert OutboxEntry.objects.filter(kind="position").count() == 3


def test_moving_into_a_free_slot_moves_only_that_pin(editor, au: Market, items: list) -> None:
    pin = PositionFactory(market=au, item=items[0], state="pinned", slot=1)
    PositionFactory(market=au, item=items[1], state="pinned", slot=3)
    pins_reorder(actor=editor, market=au, position=pin, direction="down")
    assert slots(au) == {"ng-000": 2, "ng-001": 3}
    assert AuditEntry.objects.count() == 1


# Its windows are in March 2026: set them before they end (past windows are refused).
@time_machine.travel(datetime(2026, 3, 1, tzinfo=UTC), tick=False)
def test_a_pin_with_a_non_overlapping_window_is_not_in_the_way(editor, au: Market, items: list) -> None:
    # ng-001 holds slot 1 only next week; ng-000 (this week) can take slot 1 without a swap
    PositionFactory(
        market=au,
        item=items[1],
        state="pinned",
        slot=1,
        starts_at=T0 + timedelta(days=7),
        ends_at=T0 + timedelta(days=14),
    )
    pin = PositionFactory(
        market=au, item=items[0], state="pinned", slot=2, starts_at=T0, ends_at=T0 + timedelta(days=7)
    )
    pins_reorder(actor=editor, market=au, position=pin, direction="up")
    assert slots(au) == {"ng-000": 1, "ng-001": 1}


def test_a_swap_that_would_clash_elsewhere_changes_nothing(editor, au: Market, items: list) -> None:
    # ng-002 has slot 1 only for next week, so ng-000 (always) could not take slot 1... but ng-001
    # (always, in slot 1) must move to slot 2, where ng-003 already is for an overlapping window.
    PositionFactory(market=au, item=items[1], state="pinned", slot=1)
    pin = PositionFactory(
        market=au, item=items[0], state="pinned", slot=2, starts_at=T0, ends_at=T0 + timedelta(days=1)
    )
    PositionFactory(
        market=au,
        item=items[3],
        state="pinned",
        slot=2,
        starts_at=T0 + timedelta(days=2),
        ends_at=T0 + timedelta(days=3),
    )
    before = slots(au)
    with pytest.raises(ValidationError):
        pins_reorder(actor=editor, market=au, position=pin, direction="up")
    assert slots(au) == before
    assert not AuditEntry.objects.exists()


def test_refusals(editor, au_manager, au: Market, de: Market, items: list) -> None:
    top = PositionFactory(market=au, item=items[0], state="pinned", slot=1)
    hidden = PositionFactory(market=au, item=items[1], state="hidden")
    de_pin = PositionFactory(market=de, item=items[2], state="pinned", slot=1)
    with pytest.raises(ValidationError, match="top"):
        pins_reorder(actor=editor, market=au, position=top, direction="up")
    with pytest.raises(ValidationError, match="no longer pinned"):
        pins_reorder(actor=editor, market=au, position=hidden, direction="down")
    with pytest.raises(ValidationError, match="up or down"):
        pins_reorder(actor=editor, market=au, position=top, direction="sideways")
    with pytest.raises(Conflict):
        pins_reorder(actor=editor, market=au, position=top, direction="down", expected_version=5)
    with pytest.raises(AccessDenied):
        pins_reorder(actor=au_manager, market=de, position=de_pin, direction="down")
    with pytest.raises(ValidationError, match="not in AU"):
        pins_reorder(actor=editor, market=au, position=de_pin, direction="down")
