"""Drains running at the same time (gunicorn workers, Lambda invocations) split the outbox rows."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pytest
from django.db import connection

from content.services import PositionChange, positions_bulk_set
from markets.models import Market
from portal.shared_tables.models import OutboxEntry, OutboxStatus
from portal.shared_tables.publisher import drain
from positioning.tables import PutRequest, PutResult, SharedTables
from tests.factories import ContentItemFactory

pytestmark = pytest.mark.django_db(transaction=True)

DRAINS = 4
ITEMS = 120


class SlowCountingTables:
    """The tables, with every put counted by key and a pause that makes the drains overlap."""

    def __init__(self, tables: SharedTables) -> None:
        self.tables = tables
        self.puts: Counter[tuple[str, str]] = Counter()
        self.lock = threading.Lock()

    def put_if_newer(self, requests: Sequence[PutRequest], **kwargs: Any) -> list[PutResult]:
        with self.lock:
            self.puts.update((r.table, str(r.item.get("content_id", r.item.get("market")))) for r in requests)
        time.sleep(0.05)
        return self.tables.put_if_newer(requests, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.tables, name)


def test_concurrent_drains_publish_each_row_once(
    local_tables: SharedTables, au: Market, settings: Any
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("Needs PostgreSQL: rows are claimed with SELECT … FOR UPDATE SKIP LOCKED (CI runs it).")
    # Given 120 position changes waiting in the outbox, one row each
    settings.SHARED_TABLES_PUBLISH_ON_COMMIT = False
    items = ContentItemFactory.create_batch(ITEMS)
    positions_bulk_set(
        actor=None, markets=[au], item_ids=[i.pk for i in items], change=PositionChange(state="hidden")
    )
    assert OutboxEntry.objects.filter(status=OutboxStatus.PENDING).count() == ITEMS
    counting = SlowCountingTables(local_tables)

    # When four drains start together, in batches of 10
    barrier = threading.Barrier(DRAINS, timeout=30)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            drain(tables=counting, batch_size=10)  # type: ignore[arg-type]
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(DRAINS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    # Then every row is published, and no item was put twice (each drain took other rows)
    assert errors == []
    assert OutboxEntry.objects.filter(status=OutboxStatus.PENDING).count() == 0
    assert len(counting.puts) == ITEMS
    assert max(counting.puts.values()) == 1
    assert all(local_tables.get_item("positions", ("AU", i.upstream_id)) for i in items)
