"""Writes for group positions: one row per (group, item), never one per member market.

A group position hides, shows or promotes an item in every member of the group (DESIGN step 3);
it is published once, to the `positions` table under the group's code. Pins stay per market.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.access import Action, can_in_group, require_in_group
from accounts.models import User
from content.models import ContentItem, GroupPosition, PositionState
from content.services.base import BATCH_SIZE
from content.services.positions import BulkResult, PositionChange, Refusal
from content.services.restore import RestoreRefusal, RestoreResult
from markets.models import MarketGroup
from portal.audit.services import AuditRecord, audit_bulk, audit_record
from portal.errors import Conflict
from portal.shared_tables.keys import position_key
from portal.shared_tables.models import OutboxKind
from portal.shared_tables.outbox import outbox_enqueue_many

GROUP_POSITION_FIELDS = ("state", "boost", "section", "starts_at", "ends_at", "reason")
PIN_REFUSED = "Pins stay per market; a group position can hide, show, promote or reset an item."


def _validate(change: PositionChange) -> dict[str, Any]:
    if change.state == PositionState.PINNED:
        raise ValidationError({"state": PIN_REFUSED})
    change.validate()
    values = change.values()
    values.pop("slot")
    return values


def _snapshot(position: GroupPosition | None) -> dict[str, Any] | None:
    if position is None:
        return None
    data: dict[str, Any] = {}
    for name in GROUP_POSITION_FIELDS:
        value = getattr(position, name)
        data[name] = value.isoformat() if isinstance(value, datetime) else value
    data["version"] = position.version
    return data


def _audit(
    group: MarketGroup,
    content_id: str,
    title: str,
    before: Any,
    after: GroupPosition,
    reverts: int | None = None,
) -> AuditRecord:
    return AuditRecord(
        action=f"position.{'reset' if after.state == PositionState.DEFAULT else 'set'}",
        object_type="group_position",
        object_id=content_id,
        object_repr=f"{title[:200]} in group {group.code}",
        market_code=group.code,
        before=before,
        after=_snapshot(after),
        reverts=reverts,
    )


def group_position_set(
    *,
    actor: User | None,
    group: MarketGroup,
    item: ContentItem,
    change: PositionChange,
    expected_version: int | None = None,
    via: str = "portal",
) -> GroupPosition:
    """Set the position of `item` in `group` (hide, show, promote, or reset to default).

    Raises AccessDenied unless `actor` may edit positions in the group (every member market, a
    role on the group, or admin); ValidationError on a pin or an incoherent change; Conflict when
    `expected_version` is stale (0: there must be no position yet).
    """
    if actor is not None:
        require_in_group(actor, Action.EDIT_POSITIONS, group)
    values = _validate(change)
    with transaction.atomic():
        # One lock per group serialises its position writers; groups are few and edited rarely.
        MarketGroup.objects.select_for_update().filter(pk=group.pk).first()
        current = GroupPosition.objects.filter(group=group, item=item).first()
        stored_version = current.version if current else 0
        if expected_version is not None and expected_version != stored_version:
            raise Conflict(
                f"The position of {item.upstream_id} in group {group.code} was changed meanwhile "
                f"(version {stored_version}, you edited version {expected_version}).",
                current=_snapshot(current) or {},
            )
        if current is not None and all(getattr(current, k) == v for k, v in values.items()):
            return current
        before = _snapshot(current)
        position = current or GroupPosition(group=group, item=item, version=0)
        for name, value in values.items():
            setattr(position, name, value)
        position.version += 1
        position.author = actor
        position.save()
        audit_record(
            actor=actor, record=_audit(group, item.upstream_id, item.title, before, position), via=via
        )
        outbox_enqueue_many(
            kind=OutboxKind.POSITION,
            entries=[(position_key(group.code, item.upstream_id), position.version)],
        )
    return position


def group_positions_bulk_set(
    *,
    actor: User | None,
    group: MarketGroup,
    item_ids: Sequence[int],
    change: PositionChange,
    via: str = "portal",
    batch: uuid.UUID | None = None,
) -> BulkResult:
    """Apply one change to many items in a group, in one transaction: one row, one audit entry
    and one outbox row per item, however many members the group has. The audit entries share
    `batch` (a new id when None).

    Raises AccessDenied unless `actor` may edit positions in the group; ValidationError on a
    pin or an incoherent change.
    """
    if actor is not None:
        require_in_group(actor, Action.EDIT_POSITIONS, group)
    values = _validate(change)
    result = BulkResult()
    item_ids = list(dict.fromkeys(item_ids))
    items = {
        pk: (upstream, title)
        for pk, upstream, title in ContentItem.objects.filter(pk__in=item_ids).values_list(
            "pk", "upstream_id", "title"
        )
    }
    ordered_ids = [pk for pk in item_ids if pk in items]
    with transaction.atomic():
        MarketGroup.objects.select_for_update().filter(pk=group.pk).first()
        existing: dict[int, GroupPosition] = {}
        for start in range(0, len(ordered_ids), BATCH_SIZE):
            chunk = ordered_ids[start : start + BATCH_SIZE]
            for row in GroupPosition.objects.filter(group=group, item_id__in=chunk):
                existing[row.item_id] = row
        to_write: list[GroupPosition] = []
        audits: list[AuditRecord] = []
        outbox: list[tuple[str, int]] = []
        for item_id in ordered_ids:
            current = existing.get(item_id)
            if current is not None and all(getattr(current, k) == v for k, v in values.items()):
                result.unchanged += 1
                continue
            position = GroupPosition(
                group=group,
                item_id=item_id,
                version=(current.version if current else 0) + 1,
                author=actor,
                **values,
            )
            upstream, title = items[item_id]
            to_write.append(position)
            audits.append(_audit(group, upstream, title, _snapshot(current), position))
            outbox.append((position_key(group.code, upstream), position.version))
        GroupPosition.objects.bulk_create(
            to_write,
            batch_size=BATCH_SIZE,
            update_conflicts=True,
            unique_fields=["group", "item"],
            update_fields=[*GROUP_POSITION_FIELDS, "version", "author", "updated_at"],
        )
        result.changed = len(to_write)
        if audits:
            result.batch = str(audit_bulk(actor=actor, records=audits, via=via, batch=batch))
            outbox_enqueue_many(kind=OutboxKind.POSITION, entries=outbox)
    missing = len(item_ids) - len(ordered_ids)
    if missing:
        result.refused.append(Refusal(market_code="", reason="Content item not found.", count=missing))
    return result


@dataclass(frozen=True)
class GroupPositionRestore:
    """Put one (group, item) position back to `change` (a revert from the audit log).

    `expected_version` is the version the position must still have (the one the undone change
    left); None overwrites whatever is there now (the user forced it). `reverts` is the id of the
    audit entry being undone.
    """

    group: MarketGroup
    item_id: int
    content_id: str
    change: PositionChange
    expected_version: int | None
    reverts: int | None = None


def group_positions_restore(
    *,
    actor: User | None,
    restores: Sequence[GroupPositionRestore],
    via: str = "portal",
    batch: uuid.UUID | None = None,
) -> RestoreResult:
    """Give each (group, item) pair its own position back, in one transaction.

    The group counterpart of `positions_restore`: a pair in a group where `actor` may not edit
    positions is refused, and so is a pair whose position changed since (its version is not
    `expected_version`). Locks the groups' rows like the other group position writers; one
    query per thousand pairs to read them, one bulk write. The audit entries share `batch` and
    link the entry each undoes. Raises ValidationError when a change is incoherent or a pin.
    """
    result = RestoreResult()
    allowed: list[tuple[GroupPositionRestore, dict[str, Any]]] = []
    for restore in restores:
        # The state being restored was valid when written; its window may have ended since.
        restore.change.validate(allow_past=True)
        values = restore.change.values()
        values.pop("slot")
        if restore.change.state == PositionState.PINNED:
            raise ValidationError({"state": PIN_REFUSED})
        if actor is None or can_in_group(actor, Action.EDIT_POSITIONS, restore.group):
            allowed.append((restore, values))
        else:
            result.refused.append(
                RestoreRefusal(
                    market_code=restore.group.code,
                    content_id=restore.content_id,
                    reason=f"You may not edit positions in group {restore.group.code}.",
                    reverts=restore.reverts,
                )
            )
    if not allowed:
        return result
    groups = {r.group.pk: r.group for r, _ in allowed}
    titles = dict(
        ContentItem.objects.filter(pk__in={r.item_id for r, _ in allowed}).values_list("pk", "title")
    )
    with transaction.atomic():
        # The same lock as group_position_set: one per group serialises its position writers.
        list(MarketGroup.objects.select_for_update().filter(pk__in=list(groups)).order_by("pk"))
        existing: dict[tuple[int, int], GroupPosition] = {}
        pairs = [(r.group.pk, r.item_id) for r, _ in allowed]
        for start in range(0, len(pairs), BATCH_SIZE):
            chunk = pairs[start : start + BATCH_SIZE]
            rows = GroupPosition.objects.filter(
                group_id__in={g for g, _ in chunk}, item_id__in={i for _, i in chunk}
            )
            for row in rows:
                existing[(row.group_id, row.item_id)] = row
        to_write: dict[tuple[int, int], GroupPosition] = {}
        audits: list[AuditRecord] = []
        outbox: list[tuple[str, int]] = []
        for restore, values in allowed:
            pair = (restore.group.pk, restore.item_id)
            current = to_write.get(pair) or existing.get(pair)
            stored = current.version if current is not None else 0
            if restore.expected_version is not None and restore.expected_version != stored:
                result.refused.append(
                    RestoreRefusal(
                        market_code=restore.group.code,
                        content_id=restore.content_id,
                        reason=f"Changed since (now version {stored}, the change left version "
                        f"{restore.expected_version}).",
                        reverts=restore.reverts,
                        changed_since=True,
                    )
                )
                continue
            if current is not None and all(getattr(current, k) == v for k, v in values.items()):
                result.unchanged += 1
                continue
            if current is None and values["state"] == PositionState.DEFAULT:
                # No position before and none now: nothing to undo.
                result.unchanged += 1
                continue
            position = GroupPosition(
                group=groups[restore.group.pk],
                item_id=restore.item_id,
                version=stored + 1,
                author=actor,
                **values,
            )
            to_write[pair] = position
            audits.append(
                _audit(
                    position.group,
                    restore.content_id,
                    titles.get(restore.item_id, restore.content_id),
                    _snapshot(current),
                    position,
                    restore.reverts,
                )
            )
            outbox.append((position_key(restore.group.code, restore.content_id), position.version))
        GroupPosition.objects.bulk_create(
            list(to_write.values()),
            batch_size=BATCH_SIZE,
            update_conflicts=True,
            unique_fields=["group", "item"],
            update_fields=[*GROUP_POSITION_FIELDS, "version", "author", "updated_at"],
        )
        result.changed = len(to_write)
        if audits:
            result.batch = str(audit_bulk(actor=actor, records=audits, via=via, batch=batch))
            outbox_enqueue_many(kind=OutboxKind.POSITION, entries=outbox)
    return result
