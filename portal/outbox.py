"""Writing outbox rows: every change the shared admin tables must reflect.

Rows are written in the change's own transaction; publishing them is the publisher's job.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from portal.bulk import bulk_insert
from portal.models import OutboxEntry, OutboxKind

BATCH_SIZE = 1000


def position_key(market_code: str, content_id: str) -> str:
    """Return the outbox key of a position: `MARKET|content_id`."""
    return f"{market_code}|{content_id}"


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
    # Imported lazily: the publisher pulls in the shared-tables backend (boto3 in production).
    from portal import publishing

    transaction.on_commit(publishing.request_publish)
