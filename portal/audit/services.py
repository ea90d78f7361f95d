"""Writing audit entries; every service calls this inside its own transaction."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.db import models

from portal.audit.actions import audit_action
from portal.audit.models import AuditEntry
from portal.bulk import bulk_insert

BATCH_SIZE = 1000


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One entry to write: what changed, where, and its state before and after."""

    action: str
    object_type: str
    object_id: str
    object_repr: str = ""
    market_code: str = ""
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    # The id of the entry this change undoes (a revert from the audit log), else None.
    reverts: int | None = None

    def __post_init__(self) -> None:
        # Only registered names (portal/audit/actions.py): a typo fails at once, in its tests.
        audit_action(self.action)


def _actor_fields(actor: Any) -> dict[str, Any]:
    if actor is None or isinstance(actor, AnonymousUser):
        return {"actor": None, "actor_name": "system"}
    return {"actor": actor, "actor_name": actor.get_username()}


def audit_record(*, actor: Any, record: AuditRecord, via: str = "portal") -> AuditEntry:
    """Write one audit entry for `actor` (None means the system)."""
    return AuditEntry.objects.create(
        **_actor_fields(actor),
        action=record.action,
        market_code=record.market_code,
        object_type=record.object_type,
        object_id=record.object_id,
        object_repr=record.object_repr[:300],
        before=record.before,
        after=record.after,
        reverts_id=record.reverts,
        via=via,
    )


def audit_bulk(
    *, actor: Any, records: Iterable[AuditRecord], via: str = "portal", batch: uuid.UUID | None = None
) -> uuid.UUID:
    """Write many audit entries sharing one batch id (`batch`, or a new one); return the batch id.

    One bulk action that takes several service calls (one per time zone) passes the same `batch`
    to each, so the log shows it, and a revert undoes it, as one change.
    """
    batch = batch or uuid.uuid4()
    fields = _actor_fields(actor)
    bulk_insert(
        AuditEntry,
        (
            AuditEntry(
                **fields,
                action=r.action,
                market_code=r.market_code,
                object_type=r.object_type,
                object_id=r.object_id,
                object_repr=r.object_repr[:300],
                before=r.before,
                after=r.after,
                reverts_id=r.reverts,
                batch=batch,
                via=via,
            )
            for r in records
        ),
        batch_size=BATCH_SIZE,
    )
    return batch


def snapshot(instance: models.Model, fields: Iterable[str]) -> dict[str, Any]:
    """Return a JSON-safe dict of `fields` of `instance` for before/after records."""
    data: dict[str, Any] = {}
    for name in fields:
        value = getattr(instance, name)
        if hasattr(value, "isoformat"):
            value = value.isoformat()
        elif isinstance(value, models.Model):
            value = str(value.pk)
        data[name] = value
    return data
