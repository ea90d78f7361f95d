"""Reads of partner traffic: a key's minutes (table and chart), and how well its plan fits.

Every selector checks `accounts.access` first (admins, or MANAGE_PARTNERS) and raises AccessDenied.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Count, Max, Q, QuerySet, Sum

from accounts.access import Action, require
from accounts.partners.gateway.quota import period_bounds
from accounts.partners.models import KeyStatus, PartnerApiKey, UsagePlan
from accounts.partners.selectors import usage_summaries
from accounts.partners.traffic.aggregation import ALL_METHODS, hour_of, minute_of, percentile
from accounts.partners.traffic.models import TrafficHour, TrafficMinute

__all__ = [
    "FIT_DAYS",
    "MINUTE_DAYS",
    "Fit",
    "MinuteChart",
    "KeyTraffic",
    "QuotaForecast",
    "traffic_partner_summary",
    "TrafficAlerts",
    "traffic_quota_forecast",
    "traffic_alerts",
    "traffic_hours",
    "traffic_minute_chart",
    "traffic_minutes",
    "MethodSummary",
    "PlanFit",
    "traffic_plan_fit",
    "traffic_plan_fit_of_plan",
    "traffic_plan_fits",
]

# The Fit judges the last 30 days: minutes where they are kept (14 days), hours for the rest.
FIT_DAYS = 30
MINUTE_DAYS = 14
# Room above what was seen, so a recommendation is not refused by the next busy day.
RATE_HEADROOM = 20  # %
BURST_HEADROOM = 10  # %
QUOTA_HEADROOM = 20  # %
PERIOD_DAYS = {"DAY": 1, "WEEK": 7, "MONTH": 31}
# What the plan form accepts (services.plans validates the same bounds).
MAX_RATE = 10_000
MAX_BURST = 5_000


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


def traffic_minutes(
    *,
    user: Any,
    key: PartnerApiKey | None = None,
    method: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[TrafficMinute]:
    """Return minute rollups, filtered by key, method ("*": all methods) and [since, until).

    Raises AccessDenied.
    """
    require(user, Action.MANAGE_PARTNERS)
    rows = TrafficMinute.objects.all()
    if key is not None:
        rows = rows.filter(key=key)
    if method:
        rows = rows.filter(method=method)
    if since is not None:
        rows = rows.filter(minute__gte=since)
    if until is not None:
        rows = rows.filter(minute__lt=until)
    return rows


def traffic_hours(
    *,
    user: Any,
    key: PartnerApiKey | None = None,
    method: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[TrafficHour]:
    """Return hour rollups, filtered by key, method ("*": all methods) and hours starting in [since, until).

    Raises AccessDenied.
    """
    require(user, Action.MANAGE_PARTNERS)
    rows = TrafficHour.objects.all()
    if key is not None:
        rows = rows.filter(key=key)
    if method:
        rows = rows.filter(method=method)
    if since is not None:
        rows = rows.filter(hour__gte=since)
    if until is not None:
        rows = rows.filter(hour__lt=until)
    return rows


@dataclass(frozen=True)
class MethodSummary:
    """One method's figures over the chart's window: requests, peaks, refusals, errors, worst p99."""

    method: str
    requests: int
    peak_burst: int
    peak_steady: int
    throttled: int
    quota_refused: int
    client_errors: int
    server_errors: int
    latency_p99: float


@dataclass(frozen=True)
class MinuteChart:
    """A key's minutes over a window: the chart's data (drawn by uPlot, static/js/traffic-chart.js),
    the all-methods table, and per method the totals and the minutes in which it was refused."""

    start: datetime
    end: datetime
    rate: float
    burst_limit: int
    data: dict[str, Any]
    rows: list[TrafficMinute]
    rows_truncated: bool
    methods: list[MethodSummary]
    refused_rows: list[TrafficMinute]

    @property
    def has_data(self) -> bool:
        return bool(self.data["t"])


# The table lists the newest minutes only; the chart, the CSV and the API have them all.
TABLE_ROWS = 180


def traffic_minute_chart(
    *, user: Any, key: PartnerApiKey, hours: int = 6, now: datetime | None = None
) -> MinuteChart:
    """Return the key's last `hours` of minutes (one query) as chart data and table rows.

    The chart's data: `t` the minutes (epoch seconds) that have traffic; per method (all methods
    first) the mean requests/s of each minute, and for all methods also the burst and the 429s/s;
    the plan's rate and burst, and the per-method throttles of the key's stages, as limit lines.
    Raises AccessDenied.
    """
    end = minute_of(_now(now)) + timedelta(minutes=1)
    start = end - timedelta(hours=hours)
    rows = list(traffic_minutes(user=user, key=key, since=start, until=end).order_by("minute", "method"))
    plan: UsagePlan = key.plan
    minutes = sorted({row.minute for row in rows})
    index = {minute: n for n, minute in enumerate(minutes)}
    grouped = _by_method(rows)
    series: list[dict[str, Any]] = []
    for method in sorted(grouped, key=lambda m: (m != ALL_METHODS, m)):
        rps: list[float | None] = [None] * len(minutes)
        burst: list[int | None] = [None] * len(minutes)
        refused: list[float | None] = [None] * len(minutes)
        for row in grouped[method]:
            n = index[row.minute]
            rps[n] = round(row.requests / 60, 3)
            burst[n] = row.burst
            refused[n] = round((row.throttled + row.quota_refused) / 60, 3)
        entry: dict[str, Any] = {"method": method, "rps": rps}
        if method == ALL_METHODS:
            entry.update(burst=burst, refused=refused)
        series.append(entry)
    throttles = [
        {"method": path, "stage": stage, "rate": float(t["rate"]), "burst": int(t["burst"])}
        for stage, methods in sorted((plan.method_throttles or {}).items())
        for path, t in sorted(methods.items())
        if path in grouped
    ]
    data = {
        "t": [int(minute.timestamp()) for minute in minutes],
        "start": int(start.timestamp()),
        "end": int(end.timestamp()),
        "rate": float(plan.rate_limit),
        "burst_limit": plan.burst_limit,
        "series": series,
        "throttles": throttles,
    }
    all_rows = [row for row in rows if row.method == ALL_METHODS][::-1]
    method_rows = [row for row in rows if row.method != ALL_METHODS]
    methods = [
        MethodSummary(
            method=method,
            requests=sum(r.requests for r in members),
            peak_burst=max(r.burst for r in members),
            peak_steady=max(r.steady for r in members),
            throttled=sum(r.throttled for r in members),
            quota_refused=sum(r.quota_refused for r in members),
            client_errors=sum(r.client_errors for r in members),
            server_errors=sum(r.server_errors for r in members),
            latency_p99=max(r.latency_p99 for r in members),
        )
        for method, members in sorted(_by_method(method_rows).items())
    ]
    refused_rows = [row for row in method_rows if row.throttled or row.quota_refused][::-1]
    return MinuteChart(
        start=start,
        end=end,
        rate=float(plan.rate_limit),
        burst_limit=plan.burst_limit,
        data=data,
        rows=all_rows[:TABLE_ROWS],
        rows_truncated=len(all_rows) > TABLE_ROWS,
        methods=methods,
        refused_rows=refused_rows[:TABLE_ROWS],
    )


def _by_method(rows: list[TrafficMinute]) -> dict[str, list[TrafficMinute]]:
    grouped: dict[str, list[TrafficMinute]] = {}
    for row in rows:
        grouped.setdefault(row.method, []).append(row)
    return grouped


@dataclass(frozen=True)
class Fit:
    """How a key's traffic fits its plan, and what plan would fit (see `traffic_plan_fits`).

    `minutes*` and `p95_steady` come from the minute rollups of the last MINUTE_DAYS days (their
    retention); `peak_burst`, the 429s, `requests` and the quota from the hourly rollups of the
    last FIT_DAYS days. `steady_source` says which rollups the steady rate came from.
    """

    key_id: int
    plan_id: int
    days: int
    minute_days: int
    minutes: int
    minutes_over_rate: int
    minutes_over_burst: int
    hours: int
    throttled: int
    quota_refused: int
    requests: int
    p95_steady: int
    peak_burst: int
    rate: int
    burst: int
    quota_limit: int | None
    quota_period: str
    steady_source: str
    evidence: str

    @property
    def share_over_rate(self) -> float:
        return self.minutes_over_rate / self.minutes if self.minutes else 0.0

    @property
    def share_over_burst(self) -> float:
        return self.minutes_over_burst / self.minutes if self.minutes else 0.0

    @property
    def has_traffic(self) -> bool:
        return bool(self.minutes or self.hours)


def traffic_plan_fit(*, user: Any, key: PartnerApiKey, now: datetime | None = None) -> Fit:
    """Return how the key's traffic fits its plan (see `traffic_plan_fits`). Raises AccessDenied."""
    return traffic_plan_fits(user=user, keys=[key], now=now)[key.pk]


# (steady, burst) of an all-methods minute; (steady, burst, requests, throttled, quota, hour) of an hour
MinuteRow = tuple[int, int]
HourRow = tuple[int, int, int, int, int, datetime]


def traffic_plan_fits(*, user: Any, keys: list[PartnerApiKey], now: datetime | None = None) -> dict[int, Fit]:
    """Compare each key's all-methods traffic with its plan and recommend rate, burst and quota.

    Two queries for all `keys` (their plans must be loaded with them): the minutes of the last
    MINUTE_DAYS days and the hours of the last FIT_DAYS days. The rate recommended is the p95 of
    the minutes' steady rates with 20 % headroom (without minutes, of the hours' steady rates,
    each its hour's busiest minute: an upper bound); the burst the 30 days' peak with 10 %; the
    quota the period's share of the 30 days' requests, with 20 %. Raises AccessDenied.
    """
    require(user, Action.MANAGE_PARTNERS)
    end = _now(now)
    key_ids = [key.pk for key in keys]
    minutes_by_key: dict[int, list[MinuteRow]] = {pk: [] for pk in key_ids}
    minute_rows = (
        TrafficMinute.objects.filter(
            key__in=key_ids,
            method=ALL_METHODS,
            minute__gte=end - timedelta(days=MINUTE_DAYS),
            minute__lt=end,
        )
        .order_by()
        .values_list("key_id", "steady", "burst")
    )
    for key_id, steady, burst in minute_rows:
        minutes_by_key[key_id].append((steady, burst))
    hours_by_key: dict[int, list[HourRow]] = {pk: [] for pk in key_ids}
    hour_rows = (
        TrafficHour.objects.filter(
            key__in=key_ids,
            method=ALL_METHODS,
            hour__gte=hour_of(end - timedelta(days=FIT_DAYS)),
            hour__lt=end,
        )
        .order_by()
        .values_list("key_id", "steady", "burst", "requests", "throttled", "quota_refused", "hour")
    )
    for key_id, steady, burst, requests, throttled, quota_refused, hour in hour_rows:
        hours_by_key[key_id].append((steady, burst, requests, throttled, quota_refused, hour))
    return {key.pk: _fit(key, minutes_by_key[key.pk], hours_by_key[key.pk], end) for key in keys}


@dataclass(frozen=True)
class PlanFit:
    """The Fit of every key on a plan, and one recommendation for the plan (its limits apply per key).

    The plan's recommendation is the highest of its keys' (rate, burst, quota): a plan sized for
    its busiest key; `evidence` is that of the key with the highest burst.
    """

    plan: UsagePlan
    keys: list[tuple[PartnerApiKey, Fit]]
    rate: int
    burst: int
    quota_limit: int | None
    evidence: str

    @property
    def has_traffic(self) -> bool:
        return any(fit.has_traffic for _, fit in self.keys)


def traffic_plan_fit_of_plan(*, user: Any, plan: UsagePlan, now: datetime | None = None) -> PlanFit:
    """Return the Fit of every usable (active or suspended) key on `plan` (three queries).

    Raises AccessDenied.
    """
    require(user, Action.MANAGE_PARTNERS)
    keys = list(
        PartnerApiKey.objects.select_related("partner", "plan")
        .filter(plan=plan, status__in=[KeyStatus.ACTIVE, KeyStatus.SUSPENDED])
        .order_by("partner__name", "name", "id")
    )
    fits = traffic_plan_fits(user=user, keys=keys, now=now)
    rows = [(key, fits[key.pk]) for key in keys]
    active = [fit for _, fit in rows if fit.has_traffic]
    quotas = [fit.quota_limit for fit in active if fit.quota_limit is not None]
    busiest = max(active, key=lambda fit: (fit.peak_burst, fit.p95_steady), default=None)
    return PlanFit(
        plan=plan,
        keys=rows,
        rate=max((fit.rate for fit in active), default=1),
        burst=max((fit.burst for fit in active), default=1),
        quota_limit=max(quotas) if quotas else None,
        evidence=busiest.evidence if busiest else "",
    )


def _with_headroom(value: float, percent: int) -> int:
    """`value` plus `percent` %, rounded up; 410 + 10 % is 451 (410 × 1.1 is 451.00000000000006)."""
    return math.ceil(round(value * (100 + percent) / 100, 6))


def _fit(key: PartnerApiKey, minutes: list[MinuteRow], hours: list[HourRow], end: datetime) -> Fit:
    plan: UsagePlan = key.plan
    rate, burst_limit = float(plan.rate_limit), plan.burst_limit
    if minutes:
        steady_source = "minutes"
        p95_steady = int(percentile([row[0] for row in minutes], 95))
    else:
        steady_source = "hours" if hours else ""
        p95_steady = int(percentile([row[0] for row in hours], 95))
    # Hours are recomputed from their minutes at every write, so they hold the minutes' peaks too.
    peak_burst = max([row[1] for row in hours] + [row[1] for row in minutes], default=0)
    requests = sum(row[2] for row in hours)
    quota_limit: int | None = None
    if plan.has_quota:
        # A key seen for two days is judged on two days, not diluted over the whole window.
        first = min((row[5] for row in hours), default=end)
        observed_days = max(1.0, (end - first).total_seconds() / 86400)
        per_period = requests / observed_days * PERIOD_DAYS.get(plan.quota_period, 31)
        quota_limit = max(1, _with_headroom(per_period, QUOTA_HEADROOM))
    recommended_rate = min(MAX_RATE, max(1, _with_headroom(p95_steady, RATE_HEADROOM)))
    recommended_burst = min(MAX_BURST, max(recommended_rate, _with_headroom(peak_burst, BURST_HEADROOM), 1))
    if steady_source == "hours":
        steady_from = (
            f"steady from {len(hours):,} hourly rollups (no minutes in the last {MINUTE_DAYS} days;"
            " each hour's busiest minute, an upper bound)"
        )
    else:
        steady_from = f"steady from {len(minutes):,} active minutes of the last {MINUTE_DAYS} days"
    evidence = (
        f"p95 steady {p95_steady} rps, peak burst {peak_burst} in the last {FIT_DAYS} days"
        f" ({steady_from}; burst and {requests:,} requests from {len(hours):,} active hours"
        f" of the last {FIT_DAYS} days)"
    )
    return Fit(
        key_id=key.pk,
        plan_id=plan.pk,
        days=FIT_DAYS,
        minute_days=MINUTE_DAYS,
        minutes=len(minutes),
        minutes_over_rate=sum(1 for row in minutes if row[0] > rate),
        minutes_over_burst=sum(1 for row in minutes if row[1] > burst_limit),
        hours=len(hours),
        throttled=sum(row[3] for row in hours),
        quota_refused=sum(row[4] for row in hours),
        requests=requests,
        p95_steady=p95_steady,
        peak_burst=peak_burst,
        rate=recommended_rate,
        burst=recommended_burst,
        quota_limit=quota_limit,
        quota_period=plan.quota_period if plan.has_quota else "",
        steady_source=steady_source,
        evidence=evidence,
    )


# --- alerts (read by portal/notifications/checks.py) ------------------------------------------------
ALERT_WINDOW = timedelta(hours=1)
JUMP_HISTORY = timedelta(days=7)
# A key's week counts as history when it had traffic in at least this many hours of it.
JUMP_MIN_HISTORY_HOURS = 24


@dataclass(frozen=True)
class ThrottledKey:
    key: PartnerApiKey
    minutes: int
    throttled_minutes: int
    throttled: int

    @property
    def percent(self) -> float:
        return 100 * self.throttled_minutes / self.minutes if self.minutes else 0.0


@dataclass(frozen=True)
class BurstNearLimit:
    key: PartnerApiKey
    minute: datetime
    method: str
    burst: int
    limit: int


@dataclass(frozen=True)
class TrafficJump:
    key: PartnerApiKey
    hour: datetime
    requests: int
    weekly_mean: float

    @property
    def factor(self) -> float:
        return self.requests / self.weekly_mean if self.weekly_mean else math.inf


@dataclass(frozen=True)
class TrafficAlerts:
    throttled: list[ThrottledKey]
    bursts: list[BurstNearLimit]
    jumps: list[TrafficJump]


def traffic_alerts(
    *,
    now: datetime,
    throttled_percent: float,
    min_minutes: int,
    burst_percent: float,
    jump_factor: float,
    jump_min_requests: int,
) -> TrafficAlerts:
    """Keys whose traffic of the last hour needs a look (a system read for the notification checks).

    Throttled: 429 "throttled" in more than `throttled_percent` % of the key's active all-methods
    minutes (at least `min_minutes`). Burst: an all-methods minute, or a method with its own
    throttle, whose burst reached `burst_percent` % of the limit. Jump: the last complete hour had
    `jump_factor` × the key's mean hour of the 7 days before it (hours without traffic count as 0)
    and at least `jump_min_requests`, for keys with at least a day of traffic that week.
    Four queries.
    """
    end = minute_of(now)
    start = end - ALERT_WINDOW
    minute_rows = list(
        TrafficMinute.objects.filter(minute__gte=start, minute__lt=end)
        .order_by()
        .values("key_id", "method", "stage")
        .annotate(
            minutes=Count("id"),
            throttled_minutes=Count("id", filter=Q(throttled__gt=0)),
            throttled=Sum("throttled"),
            peak=Max("burst"),
        )
    )
    last_hour = hour_of(now) - timedelta(hours=1)
    hour_rows = list(
        TrafficHour.objects.filter(
            method=ALL_METHODS, hour__gte=last_hour - JUMP_HISTORY, hour__lte=last_hour
        )
        .order_by()
        .values("key_id")
        .annotate(
            last=Sum("requests", filter=Q(hour=last_hour)),
            week=Sum("requests", filter=Q(hour__lt=last_hour)),
            week_hours=Count("hour", filter=Q(hour__lt=last_hour), distinct=True),
        )
    )
    key_ids = {row["key_id"] for row in minute_rows} | {row["key_id"] for row in hour_rows if row["last"]}
    keys = {
        key.pk: key
        for key in PartnerApiKey.objects.select_related("partner", "plan").filter(
            pk__in=key_ids, status=KeyStatus.ACTIVE
        )
    }

    throttled: list[ThrottledKey] = []
    candidates: list[tuple[PartnerApiKey, str, str, int, int]] = []
    for row in minute_rows:
        key = keys.get(row["key_id"])
        if key is None:
            continue
        if row["method"] == ALL_METHODS:
            share = 100 * row["throttled_minutes"] / row["minutes"]
            if row["minutes"] >= min_minutes and share > throttled_percent:
                throttled.append(
                    ThrottledKey(
                        key=key,
                        minutes=row["minutes"],
                        throttled_minutes=row["throttled_minutes"],
                        throttled=row["throttled"] or 0,
                    )
                )
            limit: int | None = key.plan.burst_limit
        else:
            limit = _method_burst_limit(key.plan, row["stage"], row["method"])
        if limit and row["peak"] * 100 >= burst_percent * limit:
            candidates.append((key, row["stage"], row["method"], row["peak"], limit))
    bursts: list[BurstNearLimit] = []
    if candidates:
        # When each peak happened (one query for all of them).
        where = Q()
        for key, stage, method, peak, _ in candidates:
            where |= Q(key_id=key.pk, stage=stage, method=method, burst=peak)
        first_at: dict[tuple[int, str, str], datetime] = {}
        for key_id, stage, method, minute in (
            TrafficMinute.objects.filter(where, minute__gte=start, minute__lt=end)
            .order_by("minute")
            .values_list("key_id", "stage", "method", "minute")
        ):
            first_at.setdefault((key_id, stage, method), minute)
        bursts = [
            BurstNearLimit(
                key=key, minute=first_at[(key.pk, stage, method)], method=method, burst=peak, limit=limit
            )
            for key, stage, method, peak, limit in candidates
        ]

    jumps: list[TrafficJump] = []
    hours_in_week = JUMP_HISTORY / timedelta(hours=1)
    for row in hour_rows:
        key = keys.get(row["key_id"])
        if key is None or not row["last"] or row["week_hours"] < JUMP_MIN_HISTORY_HOURS:
            continue
        mean = (row["week"] or 0) / hours_in_week
        if row["last"] >= jump_min_requests and row["last"] >= jump_factor * mean:
            jumps.append(TrafficJump(key=key, hour=last_hour, requests=row["last"], weekly_mean=mean))
    return TrafficAlerts(
        throttled=sorted(throttled, key=lambda a: _key_order(a.key)),
        bursts=sorted(bursts, key=lambda b: (*_key_order(b.key), b.method)),
        jumps=sorted(jumps, key=lambda j: _key_order(j.key)),
    )


def _key_order(key: PartnerApiKey) -> tuple[str, str, int]:
    return (key.partner.name, key.name, key.pk)


def _method_burst_limit(plan: UsagePlan, stage: str, method: str) -> int | None:
    """The burst of a per-method throttle on `stage` for `method` ("/resource/METHOD"), or None."""
    throttle = (plan.method_throttles or {}).get(stage, {}).get(method)
    return int(throttle["burst"]) if throttle else None


# --- quota forecast ----------------------------------------------------------------------------------
PACE_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class QuotaForecast:
    """When the key's quota runs out at the current pace (None: it lasts the period)."""

    period_start: datetime
    period_end: datetime
    quota: int
    used: int
    per_day: float
    pace_source: str  # "traffic": admitted requests of the last 24 hours; "period": the period's average
    runs_out: datetime | None

    @property
    def spent(self) -> bool:
        return self.used >= self.quota


def traffic_quota_forecast(
    *, user: Any, key: PartnerApiKey, now: datetime | None = None
) -> QuotaForecast | None:
    """Return when `key`'s quota runs out this period at the current pace; None without a quota.

    The use so far is the quota's own figure (usage_summaries: the gateway's remaining, top-ups
    included). The pace is the admitted requests (not refused with 429) of the last 24 hours from
    the hourly rollups, or, without traffic figures, the period's average so far. Three queries.
    Raises AccessDenied.
    """
    require(user, Action.MANAGE_PARTNERS)
    plan: UsagePlan = key.plan
    if not plan.has_quota or plan.quota_limit is None:
        return None
    at = _now(now)
    start, end = period_bounds(plan.quota_period, plan.quota_offset, at)
    summary = usage_summaries([key], now=at)[key.pk]
    quota = summary.quota if summary.quota is not None else plan.quota_limit
    used = summary.used
    recent = TrafficHour.objects.filter(
        key=key, method=ALL_METHODS, hour__gte=hour_of(at - PACE_WINDOW), hour__lt=at
    ).aggregate(requests=Sum("requests"), throttled=Sum("throttled"), refused=Sum("quota_refused"))
    if recent["requests"]:
        admitted = recent["requests"] - (recent["throttled"] or 0) - (recent["refused"] or 0)
        per_day, source = admitted / (PACE_WINDOW / timedelta(days=1)), "traffic"
    else:
        elapsed = max((at - start) / timedelta(days=1), 1 / 24)
        per_day, source = used / elapsed, "period"
    runs_out: datetime | None
    if used >= quota:
        runs_out = at
    elif per_day <= 0:
        runs_out = None
    else:
        runs_out = at + timedelta(days=(quota - used) / per_day)
        if runs_out >= end:
            runs_out = None
    return QuotaForecast(
        period_start=start,
        period_end=end,
        quota=quota,
        used=used,
        per_day=per_day,
        pace_source=source,
        runs_out=runs_out,
    )


# --- per partner ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class KeyTraffic:
    """One key's all-methods figures over the last hours (from the hourly rollups)."""

    key: PartnerApiKey
    requests: int
    peak_steady: int
    peak_burst: int
    throttled: int
    quota_refused: int
    server_errors: int


def traffic_partner_summary(
    *, user: Any, keys: list[PartnerApiKey], hours: int = 24, now: datetime | None = None
) -> list[KeyTraffic]:
    """Return each of a partner's `keys` with its traffic of the last `hours` whole and current hours.

    One query for all keys; keys without traffic are listed with zeros. Raises AccessDenied.
    """
    require(user, Action.MANAGE_PARTNERS)
    since = hour_of(_now(now)) - timedelta(hours=hours - 1)
    figures = {
        row["key_id"]: row
        for row in TrafficHour.objects.filter(
            key__in=[k.pk for k in keys], method=ALL_METHODS, hour__gte=since
        )
        .order_by()
        .values("key_id")
        .annotate(
            requests=Sum("requests"),
            peak_steady=Max("steady"),
            peak_burst=Max("burst"),
            throttled=Sum("throttled"),
            quota_refused=Sum("quota_refused"),
            server_errors=Sum("server_errors"),
        )
    }
    return [
        KeyTraffic(
            key=key,
            requests=figures.get(key.pk, {}).get("requests") or 0,
            peak_steady=figures.get(key.pk, {}).get("peak_steady") or 0,
            peak_burst=figures.get(key.pk, {}).get("peak_burst") or 0,
            throttled=figures.get(key.pk, {}).get("throttled") or 0,
            quota_refused=figures.get(key.pk, {}).get("quota_refused") or 0,
            server_errors=figures.get(key.pk, {}).get("server_errors") or 0,
        )
        for key in keys
    ]
