"""Writing outbox rows: every change the shared admin tables must reflect.

Rows are written in the change's own transaction; publishing them is the publisher's job.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.db import transaction

from portal import tasks
from portal.bulk import bulk_insert
from portal.shared_tables.models import OutboxEntry, OutboxKind
from portal.shared_tables.outage import outage_paused

BATCH_SIZE = 1000


def outbox_enqueue(*, kind: OutboxKind | str, key: str, version: int) -> None:
    """Record that the shared item (`kind`, `key`) must be published at `version` or later."""
    outbox_enqueue_many(kind=kind, entries=[(key, version)])


def outbox_enqueue_many(*, kind: OutboxKind | str, entries: Iterable[tuple[str, int]]) -> None:
    """Record many (key, version) changes of one kind, in batches."""
    bulk_insert(
        OutboxEntry,
        (OutboxEntry(kind=kind, key=key, version=version) for key, version in entries),
        batch_size=BATCH_SIZE,
    )
    _publish_after_commit()


def _publish_after_commit() -> None:
    transaction.on_commit(request_publish)


def request_publish() -> None:
    """Ask for the outbox to be drained now: inline locally, a Zappa async task on Lambda.

    Does nothing when publishing on commit is off, or while an outage pause is on (the sweep
    probes the tables meanwhile). Never fails the caller: the rows are the durable record.
    """
    if not settings.SHARED_TABLES_PUBLISH_ON_COMMIT or outage_paused():
        return
    tasks.dispatch("shared_tables.publish")
