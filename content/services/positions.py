"""Writes for positions: set, reset and bulk changes per market, versioned, audited, published."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction

from accounts.access import Action, can, require, require_active
from accounts.models import User
from content.models import ContentItem, Position, PositionState
from content.services.base import BATCH_SIZE, POSITION_FIELDS
from markets.models import Market
from portal.audit.services import AuditRecord, audit_bulk, audit_record
from portal.errors import Conflict
from portal.shared_tables.keys import position_key
from portal.shared_tables.models import OutboxKind
from portal.shared_tables.outbox import outbox_enqueue_many

MAX_SLOT = 1000
MAX_BOOST = 1000

# One wording wherever a boost is refused: the portal's forms, the REST API and this service.
BOOST_RANGE = f"Promoting needs a boost between 1 and {MAX_BOOST}."


def _changed_by(position: Position | None) -> str:
    """ "by Mia Editor at 2026-03-02 09:12 UTC " (or by whom it could be), for a conflict."""
    if position is None:
        return "(it was reset) "
    author = position.author
    who = (author.get_full_name() or author.get_username()) if author is not None else "an automated change"
    return f"by {who} at {position.updated_at:%Y-%m-%d %H:%M} UTC "


@dataclass(frozen=True)
class PositionChange:
    """What an editor asks for one or many (market, item) positions."""

    state: str
    boost: int = 0
    slot: int | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    reason: str = ""
    section: str = ""

    def validate(self, *, allow_past: bool = False) -> None:
        """Raise ValidationError with field errors when the change is not coherent.

        `allow_past` accepts a window that has ended: a revert restores a state as it was.
        """
        errors: dict[str, str] = {}
        if self.state not in PositionState.values:
            errors["state"] = f"Choose one of {', '.join(PositionState.values)}."
        if self.state == PositionState.PROMOTED and not (1 <= self.boost <= MAX_BOOST):
            errors["boost"] = BOOST_RANGE
        if self.state != PositionState.PROMOTED and self.boost:
            errors["boost"] = "Only promoted items have a boost."
        if self.state == PositionState.PINNED and not (self.slot and 1 <= self.slot <= MAX_SLOT):
            errors["slot"] = f"Pinning needs a slot between 1 and {MAX_SLOT}."
        if self.state != PositionState.PINNED and self.slot is not None:
            errors["slot"] = "Only pinned items have a slot."
        for name in ("starts_at", "ends_at"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                errors[name] = "Give a time zone with the time."
        both_valid = "starts_at" not in errors and "ends_at" not in errors
        if self.starts_at and self.ends_at and both_valid and self.starts_at >= self.ends_at:
            errors["ends_at"] = "The window must end after it starts."
        elif self.ends_at and both_valid and not allow_past and self.ends_at <= datetime.now(UTC):
            errors["ends_at"] = "This window is entirely in the past; give an end in the future, or none."
        if len(self.reason) > 500:
            errors["reason"] = "Keep the reason under 500 characters."
        if len(self.section) > 64:
            errors["section"] = "Keep the section under 64 characters."
        if errors:
            raise ValidationError(errors)

    def values(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "boost": self.boost,
            "slot": self.slot,
            "section": self.section,
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "reason": self.reason.strip(),
        }


@dataclass(frozen=True)
class Refusal:
    """Why a change was not made for one market (and item, where it is item-specific)."""

    market_code: str
    reason: str
    content_id: str = ""
    count: int = 1


@dataclass
class BulkResult:
    """The summary of a bulk position change."""

    changed: int = 0
    unchanged: int = 0
    refused: list[Refusal] = field(default_factory=list)
    batch: str = ""

    @property
    def refused_count(self) -> int:
        return sum(r.count for r in self.refused)


def _position_snapshot(position: Position | None) -> dict[str, Any] | None:
    if position is None:
        return None
    data: dict[str, Any] = {}
    for name in POSITION_FIELDS:
        value = getattr(position, name)
        data[name] = value.isoformat() if isinstance(value, datetime) else value
    data["version"] = position.version
    return data


def _windows_overlap(
    a_start: datetime | None, a_end: datetime | None, b_start: datetime | None, b_end: datetime | None
) -> bool:
    # [a_start, a_end) and [b_start, b_end) overlap unless one ends before the other starts.
    if a_end is not None and b_start is not None and a_end <= b_start:
        return False
    return not (b_end is not None and a_start is not None and b_end <= a_start)


def _lock_rows(
    pairs: Iterable[tuple[int, int]], published: Mapping[int, datetime]
) -> dict[tuple[int, int], Position]:
    """Lock the position rows of (market id, item id) pairs and return them by pair.

    `published` gives each item's published_at, which a new row carries (Position.item_published_at).

    Writers lock what they change, not the market: two editors of different items in one market
    never wait for each other. A pair with no row gets a placeholder first (state default,
    version 0: the same as "no position" to every reader), inserted with ON CONFLICT DO NOTHING,
    so that a first write of a pair is serialised like any other. Rows are locked in (item,
    market) order, the same in every writer, so bulk writers never deadlock on each other.
    """
    wanted = sorted({(item_id, market_id) for market_id, item_id in pairs})
    found: dict[tuple[int, int], Position] = {}
    for start in range(0, len(wanted), BATCH_SIZE):
        chunk = wanted[start : start + BATCH_SIZE]
        item_ids = sorted({item_id for item_id, _ in chunk})
        market_ids = sorted({market_id for _, market_id in chunk})
        Position.objects.bulk_create(
            [
                Position(
                    market_id=market_id,
                    item_id=item_id,
                    state=PositionState.DEFAULT,
                    version=0,
                    item_published_at=published[item_id],
                )
                for item_id, market_id in chunk
            ],
            batch_size=BATCH_SIZE,
            ignore_conflicts=True,
        )
        rows = (
            Position.objects.select_for_update()
            .filter(market_id__in=market_ids, item_id__in=item_ids)
            .order_by("item_id", "market_id")
        )
        keep = set(chunk)
        for row in rows:
            if (row.item_id, row.market_id) in keep:
                found[(row.market_id, row.item_id)] = row
    return found


def _lock_pin_slots(market_ids: Iterable[int], slot: int | None = None) -> None:
    """Serialise pin checks: one slot of a market (single writes) or all of its slots (bulk).

    A slot can be taken by a row that does not exist yet, which no row lock can guard, so pins
    take PostgreSQL advisory locks held until the transaction ends: (market, slot) exclusive under
    (market, 0) shared for a single pin, (market, 0) exclusive for a bulk pin. Always before the
    row locks, in market order. SQLite serialises every write transaction anyway.
    """
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for market_id in sorted(set(market_ids)):
            if slot is None:
                cursor.execute("SELECT pg_advisory_xact_lock(%s, 0)", [market_id])
            else:
                cursor.execute("SELECT pg_advisory_xact_lock_shared(%s, 0)", [market_id])
                cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [market_id, slot])


def _pin_conflict(pins: Sequence[Position], item_id: int, values: dict[str, Any]) -> Position | None:
    for pin in pins:
        if pin.item_id == item_id or pin.slot != values["slot"]:
            continue
        if _windows_overlap(pin.starts_at, pin.ends_at, values["starts_at"], values["ends_at"]):
            return pin
    return None


def position_set(
    *,
    actor: User | None,
    market: Market,
    item: ContentItem,
    change: PositionChange,
    expected_version: int | None = None,
    via: str = "portal",
) -> Position:
    """Set the position of `item` in `market` (hide, show, promote, pin or reset to default).

    Raises AccessDenied unless `actor` may edit positions in `market`; ValidationError on an
    incoherent change or a pin conflict; Conflict when `expected_version` is stale (0 means
    "there must be no position yet").
    """
    if actor is not None:
        require(actor, Action.EDIT_POSITIONS, market)
    require_active(market, Action.EDIT_POSITIONS)
    change.validate()
    values = change.values()
    with transaction.atomic():
        if values["state"] == PositionState.PINNED:
            _lock_pin_slots([market.pk], slot=values["slot"])
        locked = _lock_rows([(market.pk, item.pk)], {item.pk: item.published_at})[(market.pk, item.pk)]
        # A placeholder (version 0) is no position yet.
        current = locked if locked.version else None
        stored_version = current.version if current else 0
        if expected_version is not None and expected_version != stored_version:
            raise Conflict(
                f"The position of {item.upstream_id} in {market.code} was changed meanwhile "
                f"{_changed_by(current)}(version {stored_version}, you edited version {expected_version}).",
                current=_position_snapshot(current) or {},
            )
        if values["state"] == PositionState.PINNED:
            pins = list(
                Position.objects.filter(market=market, state=PositionState.PINNED, slot=values["slot"])
                .exclude(item=item)
                .select_related("item")
            )
            clash = _pin_conflict(pins, item.pk, values)
            if clash is not None:
                raise ValidationError(
                    {
                        "slot": f"Slot {values['slot']} in {market.code} is already taken by "
                        f"{clash.item.upstream_id} for an overlapping window."
                    }
                )
        before = _position_snapshot(current)
        if current is not None and all(getattr(current, k) == v for k, v in values.items()):
            return current
        if current is None:
            current = locked
        for name, value in values.items():
            setattr(current, name, value)
        current.version += 1
        current.author = actor
        current.save()
        audit_record(
            actor=actor,
            record=AuditRecord(
                action=f"position.{'reset' if change.state == PositionState.DEFAULT else 'set'}",
                object_type="position",
                object_id=item.upstream_id,
                object_repr=f"{item.title[:200]} in {market.code}",
                market_code=market.code,
                before=before,
                after=_position_snapshot(current),
            ),
            via=via,
        )
        outbox_enqueue_many(
            kind=OutboxKind.POSITION,
            entries=[(position_key(market.code, item.upstream_id), current.version)],
        )
    return current


def position_reset(
    *,
    actor: User | None,
    market: Market,
    item: ContentItem,
    expected_version: int | None = None,
    via: str = "portal",
) -> Position:
    """Return `item` in `market` to the market's rules and default (the row is kept).

    Raises as position_set.
    """
    return position_set(
        actor=actor,
        market=market,
        item=item,
        change=PositionChange(state=PositionState.DEFAULT),
        expected_version=expected_version,
        via=via,
    )


def positions_bulk_set(
    *,
    actor: User | None,
    markets: Sequence[Market],
    item_ids: Sequence[int],
    change: PositionChange,
    via: str = "portal",
    batch: uuid.UUID | None = None,
) -> BulkResult:
    """Apply one change to many items in many markets, in one transaction.

    Markets the actor may not edit, and inactive ones, are refused as a whole; a bulk pin gives
    the selected items consecutive slots from `change.slot`, and items whose slot is taken are
    refused. The audit entries share `batch` (a new id when None). Raises ValidationError when
    the change itself is incoherent.
    """
    change.validate()
    result = BulkResult()
    item_ids = list(dict.fromkeys(item_ids))
    allowed: list[Market] = []
    for market in markets:
        if not market.active:
            result.refused.append(
                Refusal(
                    market_code=market.code,
                    reason=f"{market.code} is inactive: nothing in it can be changed until an admin "
                    "reactivates it.",
                    count=len(item_ids),
                )
            )
        elif actor is None or can(actor, Action.EDIT_POSITIONS, market):
            allowed.append(market)
        else:
            result.refused.append(
                Refusal(
                    market_code=market.code,
                    reason=f"You may not edit positions in {market.code}.",
                    count=len(item_ids),
                )
            )
    if not allowed or not item_ids:
        return result
    base = change.values()
    items: dict[int, str] = {}
    published: dict[int, datetime] = {}
    for pk, upstream, published_at in ContentItem.objects.filter(pk__in=item_ids).values_list(
        "pk", "upstream_id", "published_at"
    ):
        items[pk], published[pk] = upstream, published_at
    ordered_ids = [pk for pk in item_ids if pk in items]
    last_slot = (change.slot or 0) + len(ordered_ids) - 1
    if change.state == PositionState.PINNED and last_slot > MAX_SLOT:
        # Consecutive slots from change.slot: the last would be past what one pin may take.
        raise ValidationError(
            {
                "slot": f"Pinning {len(ordered_ids)} items from slot {change.slot} would use slots up to "
                f"{last_slot}; the last slot is {MAX_SLOT}. Start lower or pin fewer."
            }
        )
    with transaction.atomic():
        if change.state == PositionState.PINNED:
            _lock_pin_slots([m.pk for m in allowed])
        locked = _lock_rows([(m.pk, item_id) for m in allowed for item_id in ordered_ids], published)
        # Placeholders (version 0) are no position yet.
        existing = {pair: row for pair, row in locked.items() if row.version}
        pins_by_market: dict[int, list[Position]] = defaultdict(list)
        if change.state == PositionState.PINNED:
            for pin in Position.objects.filter(market__in=allowed, state=PositionState.PINNED):
                pins_by_market[pin.market_id].append(pin)

        to_write: list[Position] = []
        audits: list[AuditRecord] = []
        outbox: list[tuple[str, int]] = []
        for market in allowed:
            slot = change.slot
            for item_id in ordered_ids:
                values = dict(base)
                if change.state == PositionState.PINNED:
                    values["slot"] = slot
                    clash = _pin_conflict(pins_by_market[market.pk], item_id, values)
                    # Slots are handed out in selection order; a taken slot refuses its item only.
                    slot = (slot or 0) + 1
                    if clash is not None:
                        result.refused.append(
                            Refusal(
                                market_code=market.code,
                                content_id=items[item_id],
                                reason=f"Slot {values['slot']} is already pinned for an overlapping window.",
                            )
                        )
                        continue
                current = existing.get((market.pk, item_id))
                if current is not None and all(getattr(current, k) == v for k, v in values.items()):
                    result.unchanged += 1
                    continue
                before = _position_snapshot(current)
                position = Position(
                    market=market,
                    item_id=item_id,
                    version=(current.version if current else 0) + 1,
                    author=actor,
                    item_published_at=published[item_id],
                    **values,
                )
                if change.state == PositionState.PINNED:
                    pins_by_market[market.pk].append(position)
                to_write.append(position)
                audits.append(
                    AuditRecord(
                        action=f"position.{'reset' if change.state == PositionState.DEFAULT else 'set'}",
                        object_type="position",
                        object_id=items[item_id],
                        object_repr=f"{items[item_id]} in {market.code}",
                        market_code=market.code,
                        before=before,
                        after=_position_snapshot(position),
                    )
                )
                outbox.append((position_key(market.code, items[item_id]), position.version))
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
            # Placeholders of refused or unchanged pairs go again: no row is left that no one wrote.
            Position.objects.filter(pk__in=unused[start : start + BATCH_SIZE], version=0).delete()
        if audits:
            result.batch = str(audit_bulk(actor=actor, records=audits, via=via, batch=batch))
            outbox_enqueue_many(kind=OutboxKind.POSITION, entries=outbox)
    missing = len(item_ids) - len(ordered_ids)
    if missing:
        result.refused.append(Refusal(market_code="", reason="Content item not found.", count=missing))
    return result
