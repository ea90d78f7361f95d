"""Writes on the publishing pipeline: retrying dead letters, pruning published outbox rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from accounts.access import Action, require
from accounts.models import User
from portal.audit.services import AuditRecord, audit_record
from portal.shared_tables.models import OutboxEntry, OutboxStatus

# Publishing is an admin's job. There is no dedicated action for it in accounts.access, and
# managing markets is the admin-only action closest to "operating what the public APIs read".
PUBLISHING_ACTION = Action.MANAGE_MARKETS
_AUDITED_IDS = 1000
_UPDATE_CHUNK = 500


def dead_letters_retry(
    *, actor: User | None, entry_ids: Sequence[int] | None = None, via: str = "portal"
) -> int:
    """Queue dead letters again (those in `entry_ids`, or all) with fresh attempts; return how many.

    The publisher runs after commit (if publishing on commit is on; else the sweep picks them
    up). Raises AccessDenied unless `actor` may operate publishing.
    """
    if actor is not None:
        require(actor, PUBLISHING_ACTION)
    with transaction.atomic():
        dead = OutboxEntry.objects.select_for_update().filter(status=OutboxStatus.DEAD)
        if entry_ids is not None:
            dead = dead.filter(id__in=list(entry_ids))
        ids = list(dead.order_by("id").values_list("id", flat=True))
        if not ids:
            return 0
        for start in range(0, len(ids), _UPDATE_CHUNK):
            OutboxEntry.objects.filter(id__in=ids[start : start + _UPDATE_CHUNK]).update(
                status=OutboxStatus.PENDING, attempts=0, next_attempt_at=None
            )
        audit_record(
            actor=actor,
            record=AuditRecord(
                action="publishing.retry",
                object_type="outbox",
                object_id=str(ids[0]) if len(ids) == 1 else f"{ids[0]}…{ids[-1]}",
                object_repr=f"{len(ids)} dead letter(s) queued again",
                after={"count": len(ids), "ids": ids[:_AUDITED_IDS]},
            ),
            via=via,
        )
        from portal.shared_tables.outbox import request_publish

        transaction.on_commit(request_publish)
    return len(ids)


def outbox_prune(*, older_than_days: int = 30) -> int:
    """Delete outbox rows published more than `older_than_days` ago; return how many (system only).

    Raises ValueError when `older_than_days` is below 1.
    """
    if older_than_days < 1:
        raise ValueError("Keep at least a day of published outbox rows.")
    cutoff = timezone.now() - timedelta(days=older_than_days)
    deleted, _ = OutboxEntry.objects.filter(status=OutboxStatus.PUBLISHED, published_at__lt=cutoff).delete()
    return deleted
