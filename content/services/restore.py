"""Putting many positions back to states recorded earlier (a revert from the audit log), in bulk.

`positions_bulk_set` applies one change to many pairs; a revert gives every (market, item) pair
its own earlier state, so it has its own writer here. It takes the same locks, writes the same
rows, audit entries and outbox rows as the other position services, in one transaction, with a
fixed number of queries per thousand pairs (no query per position).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from accounts.access import Action, MarketInactive, can
from accounts.models import User
from content.models import ContentItem, Position, PositionState
from content.services.base import BATCH_SIZE, POSITION_FIELDS
from content.services.positions import (
    PositionChange,
    _lock_pin_slots,
    _lock_rows,
    _pin_conflict,
    _position_snapshot,
)
from markets.models import Market
from portal.audit.services import AuditRecord, audit_bulk
from portal.shared_tables.keys import position_key
from portal.shared_tables.models import OutboxKind
from portal.shared_tables.outbox import outbox_enqueue_many


@dataclass(frozen=True)
class PositionRestore:
    """Put one (market, item) position back to `change`.

    `expected_version` is the version the position must still have (the one the undone change
    left); None overwrites whatever is there now (the user forced it). `reverts` is the id of the
    audit entry being undone.
    """

    market: Market
    item_id: int
    content_id: str
    change: PositionChange
    expected_version: int | None
    reverts: int | None = None


@dataclass(frozen=True)
class RestoreRefusal:
    market_code: str
    content_id: str
    reason: str
    reverts: int | None = None
    changed_since: bool = False


@dataclass
class RestoreResult:
    changed: int = 0
    unchanged: int = 0
    refused: list[RestoreRefusal] = field(default_factory=list)
    batch: str = ""


def positions_restore(
    *,
    actor: User | None,
    restores: Sequence[PositionRestore],
    via: str = "portal",
    batch: uuid.UUID | None = None,
) -> RestoreResult:
    """Give each (market, item) pair its own position back, in one transaction.

    A pair in a market where `actor` may not edit positions is refused; so is a pair whose
    position changed since (its version is not `expected_version`) and a pin whose slot another
    item now holds for an overlapping window. The audit entries share `batch` and link the entry
    each one undoes. Raises ValidationError when a change is incoherent (nothing is written).
    """
    result = RestoreResult()
    allowed: list[PositionRestore] = []
    for restore in restores:
        # The state being restored was valid when it was written; its window may have ended
        # since, which is still a faithful restore (the resolver treats it as no position).
        restore.change.validate(allow_past=True)
        if not restore.market.active:
            result.refused.append(
                RestoreRefusal(
                    market_code=restore.market.code,
                    content_id=restore.content_id,
                    reason=str(MarketInactive(Action.EDIT_POSITIONS, restore.market.code)),
                    reverts=restore.reverts,
                )
            )
        elif actor is None or can(actor, Action.EDIT_POSITIONS, restore.market):
            allowed.append(restore)
        else:
            result.refused.append(
                RestoreRefusal(
                    market_code=restore.market.code,
                    content_id=restore.content_id,
                    reason=f"You may not edit positions in {restore.market.code}.",
                    reverts=restore.reverts,
                )
            )
    if not allowed:
        return result
    markets = {r.market.pk: r.market for r in allowed}
    with transaction.atomic():
        pinned_markets = {r.market.pk for r in allowed if r.change.state == PositionState.PINNED}
        if pinned_markets:
            _lock_pin_slots(pinned_markets)
        published = dict(
            ContentItem.objects.filter(pk__in={r.item_id for r in allowed}).values_list("pk", "published_at")
        )
        locked = _lock_rows([(r.market.pk, r.item_id) for r in allowed], published)
        pins_by_market: dict[int, list[Position]] = defaultdict(list)
        if pinned_markets:
            pins = Position.objects.filter(market_id__in=pinned_markets, state=PositionState.PINNED)
            for pin in pins:
                pins_by_market[pin.market_id].append(pin)
        to_write: list[Position] = []
        audits: list[AuditRecord] = []
        outbox: list[tuple[str, int]] = []
        for restore in allowed:
            pair = (restore.market.pk, restore.item_id)
            row = locked[pair]
            current = row if row.version else None
            stored = current.version if current is not None else 0
            if restore.expected_version is not None and restore.expected_version != stored:
                result.refused.append(
                    RestoreRefusal(
                        market_code=restore.market.code,
                        content_id=restore.content_id,
                        reason=f"Changed since (now version {stored}, the change left version "
                        f"{restore.expected_version}).",
                        reverts=restore.reverts,
                        changed_since=True,
                    )
                )
                continue
            values: dict[str, Any] = restore.change.values()
            if values["state"] == PositionState.PINNED:
                others = [p for p in pins_by_market[restore.market.pk] if p.item_id != restore.item_id]
                if _pin_conflict(others, restore.item_id, values) is not None:
                    result.refused.append(
                        RestoreRefusal(
                            market_code=restore.market.code,
                            content_id=restore.content_id,
                            reason=f"Slot {values['slot']} is pinned to another item for an overlapping "
                            "window now.",
                            reverts=restore.reverts,
                        )
                    )
                    continue
            if current is not None and all(getattr(current, k) == v for k, v in values.items()):
                result.unchanged += 1
                continue
            position = Position(
                market=markets[restore.market.pk],
                item_id=restore.item_id,
                version=stored + 1,
                author=actor,
                item_published_at=row.item_published_at,
                **values,
            )
            if values["state"] == PositionState.PINNED:
                pins_by_market[restore.market.pk].append(position)
            to_write.append(position)
            audits.append(
                AuditRecord(
                    action="position.reset" if values["state"] == PositionState.DEFAULT else "position.set",
                    object_type="position",
                    object_id=restore.content_id,
                    object_repr=f"{restore.content_id} in {restore.market.code}",
                    market_code=restore.market.code,
                    before=_position_snapshot(current),
                    after=_position_snapshot(position),
                    reverts=restore.reverts,
                )
            )
            outbox.append((position_key(restore.market.code, restore.content_id), position.version))
        Position.objects.bulk_create(
            to_write,
            batch_size=BATCH_SIZE,
            update_conflicts=True,
            unique_fields=["market", "item"],
            update_fields=[*POSITION_FIELDS, "version", "author", "updated_at"],
        )
        result.changed = len(to_write)
        written = {(p.market_id, p.item_id) for p in to_write}
        unused = [row.pk for pair, row in locked.items() if not row.version and pair not in written]
        for start in range(0, len(unused), BATCH_SIZE):
            Position.objects.filter(pk__in=unused[start : start + BATCH_SIZE], version=0).delete()
        if audits:
            result.batch = str(audit_bulk(actor=actor, records=audits, via=via, batch=batch))
            outbox_enqueue_many(kind=OutboxKind.POSITION, entries=outbox)
    return result
