"""Reordering a market's pinned slots (the market page's move up / move down buttons)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.access import Action, require, require_active
from accounts.models import User
from content.models import Position, PositionState
from content.services.positions import PositionChange, _lock_pin_slots, position_set
from markets.models import Market
from portal.errors import Conflict

MAX_SLOT = 1000


def _overlaps(a: Position, b: Position) -> bool:
    if a.ends_at is not None and b.starts_at is not None and a.ends_at <= b.starts_at:
        return False
    return not (b.ends_at is not None and a.starts_at is not None and b.ends_at <= a.starts_at)


def _pinned_at(position: Position, slot: int) -> PositionChange:
    # Everything but the slot stays as it was: a move is not a new decision about the item.
    return PositionChange(
        state=PositionState.PINNED,
        slot=slot,
        starts_at=position.starts_at,
        ends_at=position.ends_at,
        reason=position.reason,
        section=position.section,
    )


def pins_reorder(
    *,
    actor: User | None,
    market: Market,
    position: Position,
    direction: str,
    expected_version: int | None = None,
    via: str = "portal",
) -> Position:
    """Move a pinned item one slot up or down in `market`; a pin already in that slot for an
    overlapping window takes the item's old slot (a swap), all in one transaction.

    Raises AccessDenied unless `actor` may edit positions in `market`; ValidationError when the
    position is not pinned, cannot move further, or the swap would clash with another pin;
    Conflict when `expected_version` is stale.
    """
    if actor is not None:
        require(actor, Action.EDIT_POSITIONS, market)
    require_active(market, Action.EDIT_POSITIONS)
    if direction not in ("up", "down"):
        raise ValidationError({"direction": "Move up or down."})
    with transaction.atomic():
        # Every slot of the market, exclusively (the lock a bulk pin takes): single pin writers
        # take it shared, so the pins read below, and the free slot picked for parking, cannot
        # change until this commits. position_set's own slot locks below are this session's.
        _lock_pin_slots([market.pk])
        current = Position.objects.select_related("item").filter(pk=position.pk, market=market).first()
        if current is None:
            raise ValidationError({"position": f"That pin is not in {market.code}."})
        if expected_version is not None and current.version != expected_version:
            raise Conflict(
                f"The pin of {current.item.upstream_id} in {market.code} was changed meanwhile "
                f"(version {current.version}, you saw version {expected_version}).",
                current={"state": current.state, "slot": current.slot, "version": current.version},
            )
        if current.state != PositionState.PINNED or current.slot is None:
            raise ValidationError({"position": f"{current.item.upstream_id} is no longer pinned."})
        old_slot = current.slot
        target = old_slot - 1 if direction == "up" else old_slot + 1
        if not 1 <= target <= MAX_SLOT:
            raise ValidationError(
                {"position": f"Slot {old_slot} is already at the {'top' if target < 1 else 'end'}."}
            )
        pins = list(
            Position.objects.filter(market=market, state=PositionState.PINNED)
            .exclude(pk=current.pk)
            .select_related("item")
        )
        occupants = [p for p in pins if p.slot == target and _overlaps(p, current)]
        if occupants:
            used = {p.slot for p in pins} | {old_slot}
            parking = next((s for s in range(MAX_SLOT, 0, -1) if s not in used), None)
            if parking is None:
                raise ValidationError({"position": "Every slot is taken; free one before reordering."})
            # position_set refuses two overlapping pins in one slot, so the occupants step aside
            # to a free slot while the item moves, then take its old slot.
            for pin in occupants:
                position_set(
                    actor=actor, market=market, item=pin.item, change=_pinned_at(pin, parking), via=via
                )
        moved = position_set(
            actor=actor, market=market, item=current.item, change=_pinned_at(current, target), via=via
        )
        for pin in occupants:
            pin.refresh_from_db()
            position_set(actor=actor, market=market, item=pin.item, change=_pinned_at(pin, old_slot), via=via)
    return moved
