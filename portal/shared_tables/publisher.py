"""Draining the outbox into the shared tables: coalesce, build from committed state, put if newer.

Three things call `drain()`: `publish_soon()` right after a commit (inline locally, a Zappa
async task on Lambda), the scheduled sweep every minute (`events.sweep`) and
`manage.py shared_tables publish`. They need no lock between them: a put only lands if the
stored version is lower, so duplicates and reordering are harmless by construction.

A batch of outbox rows costs one SELECT, one query per item kind to build the items, the
conditional puts (in parallel, in the backend) and one UPDATE for the rows that are done.
Failures are per item: throttling and 5xx that outlive botocore's retries are retried later
with exponential backoff and jitter, and after SHARED_TABLES_MAX_ATTEMPTS a row becomes a dead
letter (visible on /publishing/, retried from there or with `manage.py shared_tables retry`).
An item the tables refuse (too large, invalid) is a dead letter at once; a later successful publish
of the same item closes the dead letters its version includes. When the tables cannot
be reached at all, no attempt is counted against the rows: the drain stops, and on-commit
publishing pauses for SHARED_TABLES_OUTAGE_PAUSE seconds while the sweep keeps probing.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from portal.backoff import backoff_delay
from portal.observability import metrics
from portal.shared_tables.config import shared_tables
from portal.shared_tables.items import builder_for
from portal.shared_tables.models import OutboxEntry, OutboxStatus
from portal.shared_tables.outage import pause, resume
from portal.shared_tables.outbox import request_publish
from positioning.tables import (
    MAX_ITEM_BYTES,
    PutRequest,
    PutResult,
    PutStatus,
    SharedTables,
    item_size,
    oversize_error,
)

logger = logging.getLogger(__name__)

# Rows of a kind no builder handles yet wait this long before they are looked at again.
_NO_BUILDER_DELAY = timedelta(hours=1)
_UPDATE_CHUNK = 500
_MAX_ERRORS_KEPT = 20


@dataclass
class DrainResult:
    """What one drain did: rows and items handled, outcomes, and the writes it cost."""

    rows: int = 0
    items: int = 0
    written: int = 0
    superseded: int = 0
    gone: int = 0
    retrying: int = 0
    dead: int = 0
    waiting: int = 0
    unavailable: bool = False
    batches: int = 0
    requests: int = 0
    consumed_wcu: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def done(self) -> int:
        return self.written + self.superseded + self.gone

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        text = (
            f"{self.rows} outbox row(s) → {self.items} item(s): {self.written} written, "
            f"{self.superseded} already newer, {self.gone} gone from the database, "
            f"{self.retrying} to retry, {self.dead} dead letter(s)"
        )
        if self.waiting:
            text += f", {self.waiting} waiting for an item builder"
        if self.unavailable:
            text += "; the shared tables are unreachable"
        return text + f" ({self.requests} write request(s), {self.consumed_wcu:g} WCU)."


def _note(result: DrainResult, message: str) -> None:
    if len(result.errors) < _MAX_ERRORS_KEPT:
        result.errors.append(message)


def retry_delay(attempts: int) -> float:
    """Return the seconds to wait before attempt `attempts + 1`: exponential, capped, jittered."""
    # "Equal jitter": never immediately, never all rows at the same instant.
    return backoff_delay(
        attempts,
        base=float(settings.SHARED_TABLES_RETRY_BASE_SECONDS),
        cap=float(settings.SHARED_TABLES_RETRY_CAP_SECONDS),
        jitter="equal",
    )


# --- draining --------------------------------------------------------------------------------


@dataclass
class _Group:
    """The outbox rows of one item, coalesced."""

    kind: str
    key: str
    version: int = 0
    attempts: int = 0
    row_ids: list[int] = field(default_factory=list)


def _coalesce(rows: Sequence[tuple[int, str, str, int, int]]) -> list[_Group]:
    groups: dict[tuple[str, str], _Group] = {}
    for row_id, kind, key, version, attempts in rows:
        group = groups.get((kind, key))
        if group is None:
            group = groups[(kind, key)] = _Group(kind, key)
        group.version = max(group.version, version)
        group.attempts = max(group.attempts, attempts)
        group.row_ids.append(row_id)
    return list(groups.values())


def _mark_done(row_ids: Sequence[int], now: datetime) -> None:
    for start in range(0, len(row_ids), _UPDATE_CHUNK):
        OutboxEntry.objects.filter(id__in=row_ids[start : start + _UPDATE_CHUNK]).update(
            status=OutboxStatus.PUBLISHED, published_at=now, last_error="", next_attempt_at=None
        )


def _mark_failed(group: _Group, error: str, *, permanent: bool, now: datetime, result: DrainResult) -> None:
    attempts = group.attempts + 1
    dead = permanent or attempts >= int(settings.SHARED_TABLES_MAX_ATTEMPTS)
    OutboxEntry.objects.filter(id__in=group.row_ids).update(
        attempts=attempts,
        last_error=error[:2000],
        status=OutboxStatus.DEAD if dead else OutboxStatus.PENDING,
        next_attempt_at=None if dead else now + timedelta(seconds=retry_delay(attempts)),
    )
    _note(result, f"{group.kind} {group.key}: {error}")
    if dead:
        result.dead += 1
        metrics.count("OutboxDeadLettered", kind=group.kind)
        logger.error(
            "Shared tables: %s %s is a dead letter after %d attempt(s): %s",
            group.kind,
            group.key,
            attempts,
            error,
        )
    else:
        result.retrying += 1
        logger.warning(
            "Shared tables: %s %s failed (attempt %d), will retry: %s", group.kind, group.key, attempts, error
        )


def _close_covered_dead_letters(published: dict[tuple[str, str], int], now: datetime) -> None:
    """Close dead letters of items just published at a version that includes their change."""
    by_kind: dict[str, list[str]] = defaultdict(list)
    for kind, key in published:
        by_kind[kind].append(key)
    covered: list[int] = []
    for kind, keys in by_kind.items():
        for start in range(0, len(keys), _UPDATE_CHUNK):
            dead = OutboxEntry.objects.filter(
                status=OutboxStatus.DEAD, kind=kind, key__in=keys[start : start + _UPDATE_CHUNK]
            ).values_list("id", "key", "version")
            covered.extend(row_id for row_id, key, version in dead if version <= published[(kind, key)])
    if covered:
        # The error stays on the row as history; the change itself reached the tables.
        OutboxEntry.objects.filter(id__in=covered).update(status=OutboxStatus.PUBLISHED, published_at=now)
        logger.info(
            "Shared tables: %d dead letter(s) closed by a newer publish of the same item", len(covered)
        )


def _publish_batch(
    tables: SharedTables,
    rows: Sequence[tuple[int, str, str, int, int]],
    now: datetime,
    result: DrainResult,
    *,
    dead_letters_exist: bool = False,
) -> None:
    groups = _coalesce(rows)
    result.rows += len(rows)
    result.items += len(groups)
    by_kind: dict[str, list[_Group]] = defaultdict(list)
    for group in groups:
        by_kind[group.kind].append(group)

    done_ids: list[int] = []
    requests: list[PutRequest] = []
    request_groups: list[_Group] = []
    for kind, kind_groups in by_kind.items():
        builder = builder_for(kind)
        if builder is None:
            ids = [row_id for group in kind_groups for row_id in group.row_ids]
            OutboxEntry.objects.filter(id__in=ids).update(
                next_attempt_at=now + _NO_BUILDER_DELAY,
                last_error=f"No item builder is registered for kind {kind!r} yet; the row waits.",
            )
            result.waiting += len(kind_groups)
            continue
        try:
            items = builder.build([group.key for group in kind_groups])
        except Exception as exc:  # a bug or a bad row must not stop other kinds from publishing
            logger.exception("Shared tables: building %s items failed", kind)
            for group in kind_groups:
                _mark_failed(
                    group, f"Building the item failed: {exc!r}", permanent=False, now=now, result=result
                )
            continue
        for group in kind_groups:
            item = items.get(group.key)
            if item is None:
                # The source row is gone (deleted outside the services): nothing to publish.
                result.gone += 1
                done_ids.extend(group.row_ids)
                continue
            size = item_size(item)
            if size > MAX_ITEM_BYTES:
                _mark_failed(
                    group,
                    oversize_error(size),
                    permanent=True,
                    now=now,
                    result=result,
                )
                continue
            requests.append(PutRequest(builder.table, item))
            request_groups.append(group)

    outcomes: list[PutResult] = tables.put_if_newer(requests) if requests else []
    unavailable_ids: list[int] = []
    unavailable_error = ""
    published: dict[tuple[str, str], int] = {}
    for group, outcome in zip(request_groups, outcomes, strict=True):
        result.requests += outcome.requests
        result.consumed_wcu += outcome.consumed_wcu
        if outcome.done:
            # Written, or refused because the stored version is already at least this one.
            published[(group.kind, group.key)] = int(outcome.request.item["version"])
        if outcome.status == PutStatus.WRITTEN:
            result.written += 1
            done_ids.extend(group.row_ids)
        elif outcome.status == PutStatus.SUPERSEDED:
            result.superseded += 1
            done_ids.extend(group.row_ids)
        elif outcome.status == PutStatus.UNAVAILABLE:
            unavailable_ids.extend(group.row_ids)
            unavailable_error = unavailable_error or outcome.error
        else:
            _mark_failed(
                group, outcome.error, permanent=outcome.status == PutStatus.PERMANENT, now=now, result=result
            )
    _mark_done(done_ids, now)
    if dead_letters_exist and published:
        _close_covered_dead_letters(published, now)
    if unavailable_ids:
        result.unavailable = True
        _note(result, f"Shared tables unreachable: {unavailable_error}")
        # Visible on the rows, but no attempt counted: the rows did nothing wrong.
        OutboxEntry.objects.filter(id__in=unavailable_ids[:_UPDATE_CHUNK]).update(
            last_error=f"Shared tables unreachable: {unavailable_error}"[:2000]
        )


def drain(
    *,
    tables: SharedTables | None = None,
    batch_size: int | None = None,
    max_batches: int | None = None,
    time_budget: float | None = None,
) -> DrainResult:
    """Publish the pending outbox rows that are due, in id order, batch by batch.

    Stops after one pass over the rows that existed when it started, when the tables are
    unreachable, after `max_batches` or once `time_budget` seconds are spent. Never raises for
    an item's failure; the rows record it.
    """
    tables = tables if tables is not None else shared_tables()
    batch_size = batch_size or int(settings.SHARED_TABLES_BATCH_SIZE)
    started = time.monotonic()
    result = DrainResult()
    last_id = OutboxEntry.objects.order_by("-id").values_list("id", flat=True).first()
    if last_id is None:
        return result
    after_id = 0
    dead_letters_exist = OutboxEntry.objects.filter(status=OutboxStatus.DEAD).exists()
    claims = connection.features.has_select_for_update_skip_locked
    while True:
        now = timezone.now()
        # PostgreSQL: the batch's rows stay locked until they are marked, and drains running at
        # the same time (other workers, other Lambda invocations) skip them and take the next
        # rows, so no row is published twice at once. SQLite has one writer at a time anyway,
        # and a transaction around the puts would hold its lock for their duration.
        with transaction.atomic() if claims else nullcontext():
            pending = (
                OutboxEntry.objects.filter(status=OutboxStatus.PENDING, id__gt=after_id, id__lte=last_id)
                .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
                .order_by("id")
            )
            if claims:
                pending = pending.select_for_update(skip_locked=True)
            rows = list(pending.values_list("id", "kind", "key", "version", "attempts")[:batch_size])
            if not rows:
                break
            result.batches += 1
            _publish_batch(tables, rows, now, result, dead_letters_exist=dead_letters_exist)
        after_id = rows[-1][0]
        if result.unavailable:
            pause()
            break
        if len(rows) < batch_size:
            break
        if max_batches is not None and result.batches >= max_batches:
            break
        if time_budget is not None and time.monotonic() - started >= time_budget:
            break
    if not result.unavailable and result.batches:
        resume()
    if result.rows:
        # A clean drain runs after every commit: DEBUG keeps it out of the way; trouble is a WARNING.
        log = logger.warning if (result.unavailable or result.dead or result.retrying) else logger.debug
        log("Shared tables: %s", result.summary())
    return result


# --- after commit ----------------------------------------------------------------------------


def publish_task() -> dict[str, Any]:
    """Drain the outbox: the async task's body (idempotent: Lambda retries failed async invokes)."""
    return drain().as_dict()


def publish_soon() -> None:
    """Drain the outbox right after a commit (see `portal.shared_tables.outbox.request_publish`)."""
    request_publish()
