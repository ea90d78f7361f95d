"""bulk_insert writes exactly what a normal insert would (COPY on PostgreSQL, bulk_create elsewhere)."""

from __future__ import annotations

import uuid

import pytest
from django.utils import timezone

from accounts.models import User
from portal.audit.models import AuditEntry
from portal.bulk import bulk_insert
from portal.shared_tables.models import OutboxEntry

pytestmark = pytest.mark.django_db


def test_rows_round_trip_with_json_uuid_defaults_and_timestamps(editor: User) -> None:
    batch = uuid.uuid4()
    started = timezone.now()
    written = bulk_insert(
        AuditEntry,
        [
            AuditEntry(
                actor=editor,
                actor_name="editor",
                action="position.set",
                market_code="AU",
                object_type="position",
                object_id=f"doc-{n}",
                object_repr="Tab\tand newline\n and back\\slash",
                before=None if n == 0 else {"state": "hidden", "nested": {"a": [1, 2, None]}},
                after={"state": "shown", "reason": "quote ' and \" and ünïcode"},
                batch=batch,
            )
            for n in range(3)
        ],
    )
    assert written == 3
    rows = list(AuditEntry.objects.order_by("object_id"))
    assert [r.object_id for r in rows] == ["doc-0", "doc-1", "doc-2"]
    assert rows[0].before is None
    assert rows[1].before == {"state": "hidden", "nested": {"a": [1, 2, None]}}
    assert rows[2].after == {"state": "shown", "reason": "quote ' and \" and ünïcode"}
    assert rows[0].object_repr == "Tab\tand newline\n and back\\slash"
    assert {r.batch for r in rows} == {batch}
    assert all(r.actor_id == editor.pk and r.via == "portal" for r in rows)
    assert all(r.created_at >= started for r in rows)


def test_outbox_defaults_are_applied() -> None:
    bulk_insert(OutboxEntry, [OutboxEntry(kind="position", key="AU|doc-1", version=7)])
    row = OutboxEntry.objects.get()
    assert (row.status, row.attempts, row.last_error, row.next_attempt_at) == ("pending", 0, "", None)
    assert row.created_at is not None


def test_nothing_to_insert_writes_nothing() -> None:
    assert bulk_insert(OutboxEntry, []) == 0
    assert not OutboxEntry.objects.exists()
