"""Writes of partner traffic: store samples, roll them up, ingest access-log requests, prune.

Every rollup write replaces a bucket with figures computed from all of its requests (an upsert on
the natural key), so a window read or rolled up twice is counted once.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.db import transaction

from accounts.partners.gateway.logs_insights import AccessLogRecord, LogsInsightsReader
from accounts.partners.models import PartnerApiKey
from accounts.partners.traffic.aggregation import (
    BucketKey,
    Figures,
    Request,
    hour_figures,
    hour_of,
    minute_figures,
    minute_of,
    minutes_between,
)
from accounts.partners.traffic.models import TrafficHour, TrafficImportCursor, TrafficMinute, TrafficSample

__all__ = [
    "MINUTE_RETENTION",
    "HOUR_RETENTION",
    "IMPORT_SOURCE",
    "ImportRun",
    "SAMPLE_RETENTION",
    "Pruned",
    "requests_of",
    "traffic_import_due",
    "traffic_import_logs",
    "traffic_ingest",
    "traffic_prune",
    "traffic_rollup",
    "traffic_samples_insert",
    "traffic_samples_store",
]

MINUTE_RETENTION = timedelta(days=14)
HOUR_RETENTION = timedelta(days=400)
SAMPLE_RETENTION = timedelta(days=2)
logger = logging.getLogger(__name__)

FIGURE_FIELDS = list(Figures.__dataclass_fields__)
BATCH = 500
# API Gateway's $context.error.responseType of a 429: a throttle or a spent quota.
RESPONSE_TYPES = {"THROTTLED": "throttle", "QUOTA_EXCEEDED": "quota"}

# The scheduled access-log import (`traffic_import_due`), see docs/partners.md "Traffic".
IMPORT_SOURCE = "access-logs"
# One window: one Logs Insights query (or a few, when a window fills the 10,000-row limit).
IMPORT_WINDOW = timedelta(minutes=15)
# Leave out the newest minutes: API Gateway delivers access-log lines a little late.
IMPORT_LAG = timedelta(minutes=2)
# Each run reads the last few imported minutes again, for lines delivered later than the lag.
IMPORT_REREAD = timedelta(minutes=5)
# A first run starts this far back.
IMPORT_FIRST = timedelta(minutes=15)
# Catch-up per run: 8 windows (2 hours of logs), and no new window after 60 s (Lambda stops at 120).
IMPORT_MAX_WINDOWS = 8
IMPORT_BUDGET_SECONDS = 60.0


def traffic_samples_insert(*, requests: Sequence[Request]) -> int:
    """Store local enforcement samples (a repeated request id is ignored); return how many were stored.

    Samples of keys deleted since they were buffered are dropped, and the insert runs in its own
    savepoint, so a sample that cannot be stored never breaks the transaction around it.
    """
    if not requests:
        return 0
    with transaction.atomic():
        known = set(
            PartnerApiKey.objects.filter(pk__in={r.key_id for r in requests}).values_list("pk", flat=True)
        )
        rows = [
            TrafficSample(
                request_id=r.request_id,
                key_id=r.key_id,
                stage=r.stage,
                method=r.method,
                at=r.at,
                status=r.status,
                reason=r.reason,
                latency_ms=r.latency_ms,
            )
            for r in requests
            if r.key_id in known
        ]
        TrafficSample.objects.bulk_create(rows, batch_size=BATCH, ignore_conflicts=True)
    return len(rows)


def traffic_samples_store(*, requests: Sequence[Request]) -> tuple[datetime, datetime] | None:
    """Store samples and roll up the minutes they touched, for their keys.

    Returns the whole-minute window rolled up, or None when there was nothing to store.
    """
    if not requests:
        return None
    traffic_samples_insert(requests=requests)
    start = min(r.at for r in requests)
    end = max(r.at for r in requests) + timedelta(microseconds=1)
    return traffic_rollup(start=start, end=end, key_ids={r.key_id for r in requests})


def traffic_rollup(
    *, start: datetime, end: datetime, key_ids: Collection[int] | None = None
) -> tuple[datetime, datetime]:
    """Recompute the minute and hour rollups of [start, end), widened to whole minutes, from samples.

    Only `key_ids`' buckets when given (a flush touches few keys). Returns the whole-minute window.
    """
    first, last = minutes_between(start, end)
    samples = TrafficSample.objects.filter(at__gte=first, at__lt=last)
    if key_ids is not None:
        samples = samples.filter(key_id__in=list(key_ids))
    rows = samples.order_by().values_list(
        "request_id", "key_id", "stage", "method", "at", "status", "reason", "latency_ms"
    )
    requests = [Request(*row) for row in rows.iterator(chunk_size=2000)]
    _write(minute_figures(requests), first, last, key_ids)
    return first, last


def traffic_ingest(*, requests: Iterable[Request], start: datetime, end: datetime) -> int:
    """Replace the rollups of whole minutes [start, end) with the figures of `requests` in them.

    For sources that return every request of the window at once (access logs). Requests outside
    the window are ignored. Returns the number of minute buckets written.
    """
    first, last = minutes_between(start, end)
    figures = minute_figures(r for r in requests if first <= r.at < last)
    _write(figures, first, last)
    return len(figures)


def _write(
    figures: dict[BucketKey, Figures], first: datetime, last: datetime, key_ids: Collection[int] | None = None
) -> None:
    with transaction.atomic():
        TrafficMinute.objects.bulk_create(
            [
                TrafficMinute(key_id=key_id, stage=stage, method=method, minute=minute, **asdict(f))
                for (key_id, stage, method, minute), f in figures.items()
            ],
            batch_size=BATCH,
            update_conflicts=True,
            unique_fields=["key", "stage", "method", "minute"],
            update_fields=[*FIGURE_FIELDS, "updated_at"],
        )
        _hours_refresh(hour_of(first), last, key_ids)


def _hours_refresh(first_hour: datetime, last: datetime, key_ids: Collection[int] | None) -> None:
    """Recompute every hour rollup that overlaps [first_hour, last) from its minutes."""
    end = hour_of(last) + (timedelta(hours=1) if hour_of(last) < last else timedelta())
    minutes = TrafficMinute.objects.filter(minute__gte=first_hour, minute__lt=end)
    if key_ids is not None:
        minutes = minutes.filter(key_id__in=list(key_ids))
    rows = minutes.order_by().values_list("key_id", "stage", "method", "minute", *FIGURE_FIELDS)
    by_hour: dict[BucketKey, list[Figures]] = defaultdict(list)
    for key_id, stage, method, minute, *values in rows.iterator(chunk_size=2000):
        by_hour[(key_id, stage, method, hour_of(minute))].append(Figures(*values))
    TrafficHour.objects.bulk_create(
        [
            TrafficHour(key_id=key_id, stage=stage, method=method, hour=hour, **asdict(hour_figures(minutes)))
            for (key_id, stage, method, hour), minutes in by_hour.items()
        ],
        batch_size=BATCH,
        update_conflicts=True,
        unique_fields=["key", "stage", "method", "hour"],
        update_fields=[*FIGURE_FIELDS, "updated_at"],
    )


@dataclass(frozen=True)
class Pruned:
    """How many rows a prune deleted, by table."""

    samples: int
    minutes: int
    hours: int


def traffic_prune(*, now: datetime) -> Pruned:
    """Delete samples older than 2 days, minute rollups older than 14 days, hour rollups older than 400."""
    with transaction.atomic():
        samples, _ = TrafficSample.objects.filter(at__lt=now - SAMPLE_RETENTION).delete()
        minutes, _ = TrafficMinute.objects.filter(minute__lt=now - MINUTE_RETENTION).delete()
        hours, _ = TrafficHour.objects.filter(hour__lt=now - HOUR_RETENTION).delete()
    return Pruned(samples=samples, minutes=minutes, hours=hours)


def traffic_import_logs(*, start: datetime, end: datetime, reader: LogsInsightsReader | None = None) -> int:
    """Read API Gateway's access logs of [start, end) and replace those minutes' rollups.

    Keys are matched by their API Gateway id; lines of keys Meridian does not know are skipped.
    Returns the number of minute buckets written. Raises LogsQueryError when a query fails.
    """
    first, last = minutes_between(start, end)
    records = (reader or LogsInsightsReader()).read(first, last)
    return traffic_ingest(requests=requests_of(records), start=first, end=last)


def requests_of(records: Sequence[AccessLogRecord]) -> list[Request]:
    """Turn access-log records into requests of Meridian's keys (one query for the key ids)."""
    gateway_ids = {record.api_key_id for record in records}
    keys = dict(
        PartnerApiKey.objects.filter(gateway_id__in=gateway_ids).order_by().values_list("gateway_id", "pk")
    )
    return [
        Request(
            request_id=record.request_id,
            key_id=keys[record.api_key_id],
            stage=record.stage,
            method=record.method,
            at=record.at,
            status=record.status,
            reason=RESPONSE_TYPES.get(record.response_type, ""),
            latency_ms=record.latency_ms,
        )
        for record in records
        if record.api_key_id in keys
    ]


@dataclass(frozen=True)
class ImportRun:
    """What one scheduled import read: its windows, the minute buckets written, where it stopped."""

    windows: int
    buckets: int
    start: datetime | None
    imported_until: datetime
    behind: bool


def traffic_import_due(
    *,
    now: datetime,
    reader: LogsInsightsReader | None = None,
    max_windows: int = IMPORT_MAX_WINDOWS,
    budget_seconds: float = IMPORT_BUDGET_SECONDS,
    clock: Callable[[], float] = time.monotonic,
) -> ImportRun:
    """Import the access logs from where the last import stopped up to `now` less IMPORT_LAG.

    Reads bounded windows of IMPORT_WINDOW, oldest first, starting IMPORT_REREAD before the
    cursor (late lines); after each window its minutes are replaced (never added to) and the
    cursor moves to the window's end, so a run that fails, overlaps another or is retried reads
    some minutes again and counts them once. Stops after `max_windows` windows or when
    `budget_seconds` have passed (`behind` says there is more). A cursor older than the minute
    rollups' retention restarts at the retention. Raises LogsQueryError (the cursor stays at the
    last window imported).
    """
    target = minute_of(now) - IMPORT_LAG
    cursor, _ = TrafficImportCursor.objects.get_or_create(
        source=IMPORT_SOURCE, defaults={"imported_until": target - IMPORT_FIRST}
    )
    oldest = target - MINUTE_RETENTION
    if cursor.imported_until < oldest:
        logger.warning(
            "Access-log import was at %s, older than the minute retention: restarting at %s.",
            cursor.imported_until,
            oldest,
        )
    start = max(cursor.imported_until - IMPORT_REREAD, oldest)
    first_start = start if start < target else None
    reader = reader or LogsInsightsReader()
    started = clock()
    windows = buckets = 0
    imported_until = cursor.imported_until
    while start < target and windows < max_windows and (windows == 0 or clock() - started < budget_seconds):
        end = min(start + IMPORT_WINDOW, target)
        buckets += traffic_import_logs(start=start, end=end, reader=reader)
        windows += 1
        # Only forward: a slower overlapping run finishing later leaves a newer cursor alone.
        TrafficImportCursor.objects.filter(source=IMPORT_SOURCE, imported_until__lt=end).update(
            imported_until=end, updated_at=now
        )
        imported_until = max(imported_until, end)
        start = end
    return ImportRun(
        windows=windows,
        buckets=buckets,
        start=first_start,
        imported_until=imported_until,
        behind=imported_until < target,
    )
