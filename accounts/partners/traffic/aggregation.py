"""The one aggregation every traffic source feeds: requests → per-minute figures → per-hour figures.

Pure functions over plain data (no Django), so the local samples and the Logs Insights rows are
rolled up by the same code, and tests can check figures computed by hand.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

SECONDS_PER_MINUTE = 60
# The method of a key's all-methods bucket: API Gateway throttles a key across its methods, so the
# plan's rate and burst are compared with this bucket, which per-method buckets cannot add up to.
ALL_METHODS = "*"
STEADY_PERCENTILE = 95


@dataclass(frozen=True)
class Request:
    """One request by a partner key, whatever recorded it; `at` is timezone-aware UTC."""

    request_id: str
    key_id: int
    stage: str
    method: str
    at: datetime
    status: int
    reason: str
    latency_ms: float


@dataclass(frozen=True)
class Figures:
    """A bucket's counts by outcome, its burst and steady rate (requests/s) and latencies (ms)."""

    requests: int
    burst: int
    steady: int
    ok: int
    client_errors: int
    server_errors: int
    throttled: int
    quota_refused: int
    latency_p50: float
    latency_p99: float


# key id, stage, method, bucket start
BucketKey = tuple[int, str, str, datetime]


def minute_of(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


def hour_of(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def percentile(values: list[float] | list[int], pct: float) -> float:
    """Nearest-rank percentile of `values` (0 for none): the smallest value ≥ pct % of them."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return float(ordered[rank - 1])


def is_refusal(status: int, reason: str) -> str:
    """Return "throttle", "quota" or "" for a request's answer (a 429 without a reason throttled)."""
    if status != 429:
        return ""
    return "quota" if reason == "quota" else "throttle"


def figures_of(requests: list[Request]) -> Figures:
    """Figures of one minute's requests (all in the same minute)."""
    per_second = Counter(request.at.second for request in requests)
    seconds = [per_second.get(second, 0) for second in range(SECONDS_PER_MINUTE)]
    statuses = [request.status for request in requests]
    refusals = Counter(is_refusal(request.status, request.reason) for request in requests)
    latencies = [request.latency_ms for request in requests]
    return Figures(
        requests=len(requests),
        burst=max(seconds),
        steady=int(percentile(seconds, STEADY_PERCENTILE)),
        ok=sum(1 for status in statuses if status < 400),
        client_errors=sum(1 for status in statuses if 400 <= status < 500 and status != 429),
        server_errors=sum(1 for status in statuses if status >= 500),
        throttled=refusals["throttle"],
        quota_refused=refusals["quota"],
        latency_p50=percentile(latencies, 50),
        latency_p99=percentile(latencies, 99),
    )


def minute_figures(requests: Iterable[Request]) -> dict[BucketKey, Figures]:
    """Group `requests` by key, stage, method and minute, and compute each bucket's figures.

    Each key and stage also gets an ALL_METHODS bucket per minute, with every method's requests.

    A request id seen twice counts once (a log read twice, a sample flushed twice).
    """
    buckets: dict[BucketKey, list[Request]] = defaultdict(list)
    seen: set[str] = set()
    for request in requests:
        if request.request_id in seen:
            continue
        seen.add(request.request_id)
        minute = minute_of(request.at)
        buckets[(request.key_id, request.stage, request.method, minute)].append(request)
        buckets[(request.key_id, request.stage, ALL_METHODS, minute)].append(request)
    return {bucket: figures_of(members) for bucket, members in buckets.items()}


def hour_figures(minutes: list[Figures]) -> Figures:
    """Figures of an hour from its minutes: sums, highest burst, steady and p99, weighted p50."""
    total = sum(minute.requests for minute in minutes)
    weighted_p50 = sum(minute.latency_p50 * minute.requests for minute in minutes)
    return Figures(
        requests=total,
        burst=max((minute.burst for minute in minutes), default=0),
        steady=max((minute.steady for minute in minutes), default=0),
        ok=sum(minute.ok for minute in minutes),
        client_errors=sum(minute.client_errors for minute in minutes),
        server_errors=sum(minute.server_errors for minute in minutes),
        throttled=sum(minute.throttled for minute in minutes),
        quota_refused=sum(minute.quota_refused for minute in minutes),
        latency_p50=round(weighted_p50 / total, 3) if total else 0.0,
        latency_p99=max((minute.latency_p99 for minute in minutes), default=0.0),
    )


def minutes_between(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """Widen [start, end) to whole minutes."""
    first = minute_of(start)
    last = minute_of(end)
    if last < end:
        last += timedelta(minutes=1)
    return first, last
