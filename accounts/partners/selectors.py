"""Reads for partners, usage plans and partner API keys: lists, usage, alerts, charts.

Every selector asks `accounts.access` first (admins only). The dashboard's `quota_alerts` and
`expiring_keys` answer an empty list to anyone else, so any page may call them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.http import Http404
from django.utils import timezone

from accounts.access import Action, can, require
from accounts.partners.gateway.quota import period_bounds
from accounts.partners.models import (
    FINAL_STATUSES,
    KeyStatus,
    KeyUsage,
    Partner,
    PartnerApiKey,
    QuotaTopUp,
    SyncState,
    UsagePlan,
)
from accounts.partners.traffic.aggregation import ALL_METHODS
from accounts.partners.traffic.models import TrafficHour

ALERT_LEVELS = (100, 80, 50)
EXPIRY_WARNING = timedelta(days=7)
PLANS_PER_REGION = 300
LIVE = Q(status__in=[KeyStatus.ACTIVE, KeyStatus.SUSPENDED])


def _now(now: datetime | None) -> datetime:
    return now if now is not None else timezone.now()


# --- partners and plans --------------------------------------------------------------------------
def partner_list(*, user: Any) -> QuerySet[Partner]:
    """Return every partner with its live and total key counts. Raises AccessDenied."""
    require(user, Action.MANAGE_PARTNERS)
    return Partner.objects.annotate(
        live_keys=Count("keys", filter=Q(keys__status__in=[KeyStatus.ACTIVE, KeyStatus.SUSPENDED])),
        total_keys=Count("keys"),
    ).order_by("name")


def partner_get(*, user: Any, pk: int) -> Partner:
    """Return partner `pk`. Raises AccessDenied; Http404 when there is none."""
    require(user, Action.MANAGE_PARTNERS)
    partner = Partner.objects.filter(pk=pk).first()
    if partner is None:
        raise Http404("There is no such partner.")
    return partner


def plan_list(*, user: Any, include_deleted: bool = False) -> QuerySet[UsagePlan]:
    """Return the usage plans with how many usable keys each has. Raises AccessDenied."""
    require(user, Action.MANAGE_PARTNERS)
    plans = UsagePlan.objects.annotate(
        keys_count=Count("keys", filter=Q(keys__status__in=[KeyStatus.ACTIVE, KeyStatus.SUSPENDED]))
    )
    if not include_deleted:
        plans = plans.filter(deleted_at__isnull=True)
    return plans.order_by("name")


def plan_get(*, user: Any, pk: int) -> UsagePlan:
    """Return usage plan `pk`. Raises AccessDenied; Http404 when there is none."""
    require(user, Action.MANAGE_PARTNERS)
    plan = plan_list(user=user, include_deleted=True).filter(pk=pk).first()
    if plan is None:
        raise Http404("There is no such usage plan.")
    return plan


def plan_limit_warning(*, user: Any) -> str | None:
    """Return a warning when the region nears API Gateway's 300-plan limit. Raises AccessDenied."""
    require(user, Action.MANAGE_PARTNERS)
    count = UsagePlan.objects.filter(Q(deleted_at__isnull=True) | ~Q(gateway_id="")).count()
    if count >= PLANS_PER_REGION:
        return (
            f"{count} usage plans: API Gateway allows {PLANS_PER_REGION} per region unless AWS raises "
            "the limit. New plans will fail to sync until it does."
        )
    if count >= PLANS_PER_REGION - 20:
        return f"{count} of API Gateway's {PLANS_PER_REGION} usage plans per region are in use."
    return None


# --- keys ----------------------------------------------------------------------------------------
def key_list(
    *,
    user: Any,
    partner_id: int | None = None,
    plan_id: int | None = None,
    status: str | None = None,
) -> QuerySet[PartnerApiKey]:
    """Return keys (newest first) with partner and plan loaded, optionally filtered.

    Raises AccessDenied unless `user` manages partners.
    """
    require(user, Action.MANAGE_PARTNERS)
    keys = PartnerApiKey.objects.select_related("partner", "plan")
    if partner_id is not None:
        keys = keys.filter(partner_id=partner_id)
    if plan_id is not None:
        keys = keys.filter(plan_id=plan_id)
    if status:
        keys = keys.filter(status=status)
    return keys.order_by("-created_at", "-id")


def key_get(*, user: Any, pk: int) -> PartnerApiKey:
    """Return key `pk` with partner, plan and rotation links. Raises AccessDenied; Http404."""
    require(user, Action.MANAGE_PARTNERS)
    key = (
        PartnerApiKey.objects.select_related("partner", "plan", "replaces", "replaced_by")
        .filter(pk=pk)
        .first()
    )
    if key is None:
        raise Http404("There is no such key.")
    return key


def key_top_ups(*, user: Any, key: PartnerApiKey) -> list[QuotaTopUp]:
    """Return the key's top-ups, newest first. Raises AccessDenied."""
    require(user, Action.MANAGE_PARTNERS)
    return list(
        QuotaTopUp.objects.filter(key=key).select_related("created_by").order_by("-created_at", "-id")
    )


def sync_problems(*, user: Any) -> dict[str, int]:
    """Return how many plans, keys and top-ups failed to reach the gateway. Raises AccessDenied."""
    require(user, Action.MANAGE_PARTNERS)
    return {
        "plans": UsagePlan.objects.filter(sync_state=SyncState.FAILED).count(),
        "keys": PartnerApiKey.objects.filter(sync_state=SyncState.FAILED).count(),
        "top_ups": QuotaTopUp.objects.filter(sync_state=SyncState.FAILED).count(),
    }


# --- usage -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class UsageSummary:
    """One key's use: today, and in its current quota period against the quota."""

    today: int
    used: int
    quota: int | None
    remaining: int | None
    as_of: datetime | None

    @property
    def percent(self) -> float | None:
        if not self.quota:
            return None
        return 100.0 * self.used / self.quota

    @property
    def bar_percent(self) -> int:
        percent = self.percent
        return 0 if percent is None else max(0, min(100, round(percent)))

    @property
    def marks(self) -> tuple[int, int]:
        """The 50 % and 80 % marks of the quota (a <meter>'s low and high)."""
        quota = self.quota or 0
        return quota // 2, quota * 4 // 5

    @property
    def level(self) -> int:
        """The highest alert threshold (50, 80, 100) the use has reached, else 0."""
        percent = self.percent
        if percent is None:
            return 0
        return next((lvl for lvl in ALERT_LEVELS if percent >= lvl), 0)


def usage_summaries(keys: Sequence[PartnerApiKey], *, now: datetime | None = None) -> dict[int, UsageSummary]:
    """Return each key's usage summary (two queries for any number of keys; plans must be loaded)."""
    now = _now(now)
    today = now.astimezone(UTC).date()
    if not keys:
        return {}
    periods: dict[int, tuple[datetime, datetime] | None] = {}
    earliest = today
    for key in keys:
        if key.plan.has_quota:
            key_period = period_bounds(key.plan.quota_period, key.plan.quota_offset, now)
            periods[key.pk] = key_period
            earliest = min(earliest, key_period[0].date())
        else:
            periods[key.pk] = None
    rows: dict[int, list[KeyUsage]] = defaultdict(list)
    for row in KeyUsage.objects.filter(key__in=[k.pk for k in keys], day__gte=earliest).order_by("day"):
        rows[row.key_id].append(row)
    top_ups: dict[tuple[int, datetime], int] = defaultdict(int)
    for top_up in QuotaTopUp.objects.filter(
        key__in=[k.pk for k in keys],
        period_start__gte=datetime.combine(earliest, datetime.min.time(), tzinfo=UTC),
    ).only("key_id", "amount", "period_start"):
        top_ups[(top_up.key_id, top_up.period_start)] += top_up.amount
    result: dict[int, UsageSummary] = {}
    for key in keys:
        key_rows = rows.get(key.pk, [])
        today_used = next((r.used for r in key_rows if r.day == today), 0)
        as_of = max((r.updated_at for r in key_rows), default=None)
        bounds = periods[key.pk]
        if bounds is None or key.plan.quota_limit is None:
            result[key.pk] = UsageSummary(
                today=today_used, used=today_used, quota=None, remaining=None, as_of=as_of
            )
            continue
        start, _ = bounds
        in_period = [r for r in key_rows if r.day >= start.date()]
        quota = key.plan.quota_limit + top_ups.get((key.pk, start), 0)
        latest = in_period[-1] if in_period else None
        if latest is not None and latest.remaining is not None:
            remaining = latest.remaining
            used = max(0, quota - remaining)
        else:
            used = sum(r.used for r in in_period)
            remaining = max(0, quota - used)
        result[key.pk] = UsageSummary(
            today=today_used, used=used, quota=quota, remaining=remaining, as_of=as_of
        )
    return result


@dataclass(frozen=True)
class QuotaAlert:
    """A key whose use in the current period passed 50, 80 or 100 % of its quota."""

    key: PartnerApiKey
    usage: UsageSummary
    level: int


def quota_alerts(*, user: Any = None, now: datetime | None = None) -> list[QuotaAlert]:
    """Return keys past 50 / 80 / 100 % of their quota, worst first (three queries).

    Anyone but an admin (when `user` is given) gets an empty list.
    """
    if user is not None and not can(user, Action.MANAGE_PARTNERS):
        return []
    keys = list(
        PartnerApiKey.objects.select_related("partner", "plan")
        .filter(status=KeyStatus.ACTIVE, plan__quota_limit__isnull=False)
        .exclude(plan__quota_period="")
    )
    summaries = usage_summaries(keys, now=now)
    alerts = [QuotaAlert(key=k, usage=summaries[k.pk], level=summaries[k.pk].level) for k in keys]
    alerts = [a for a in alerts if a.level]
    alerts.sort(key=lambda a: (-(a.usage.percent or 0), a.key.partner.name, a.key.pk))
    return alerts


def expiring_keys(
    *, user: Any = None, now: datetime | None = None, within: timedelta = EXPIRY_WARNING
) -> list[PartnerApiKey]:
    """Return usable keys that expire within `within` (7 days), soonest first (one query).

    Anyone but an admin (when `user` is given) gets an empty list.
    """
    if user is not None and not can(user, Action.MANAGE_PARTNERS):
        return []
    now = _now(now)
    return list(
        PartnerApiKey.objects.select_related("partner", "plan")
        .filter(LIVE, expires_at__gt=now, expires_at__lte=now + within)
        .order_by("expires_at", "id")
    )


# --- the 30-day chart -----------------------------------------------------------------------------
@dataclass(frozen=True)
class ChartDay:
    day: date
    used: int
    period_used: int
    quota: int | None
    x: float
    bar_y: float
    bar_height: float
    # Refused with 429 that day (from the traffic rollups), drawn on top of the bar.
    throttled: int = 0
    quota_refused: int = 0
    throttled_y: float = 0.0
    throttled_height: float = 0.0
    quota_y: float = 0.0
    quota_height: float = 0.0


@dataclass(frozen=True)
class ChartTick:
    """A labelled gridline (y) or day label (x) of the chart."""

    at: float
    label: str


@dataclass(frozen=True)
class UsageChart:
    """A key's last days of use, laid out for a server-rendered SVG (no JavaScript).

    Two panels, each on its own scale: requests per day (bars, `top`..`bottom`), and the quota
    period's cumulative use against its quota (lines, `period_top`..`period_bottom`). One scale
    for both drew a month's 31 requests as a flat line under a 25,000 quota.
    """

    days: list[ChartDay]
    width: int
    height: int
    top: int
    bottom: int
    left: int
    bar_width: float
    y_max: int
    period_points: str
    quota_points: str
    period: str
    period_top: int = 0
    period_bottom: int = 0
    period_max: int = 0
    y_ticks: tuple[ChartTick, ...] = ()
    period_ticks: tuple[ChartTick, ...] = ()
    x_ticks: tuple[ChartTick, ...] = ()

    @property
    def has_data(self) -> bool:
        return any(d.used or d.throttled or d.quota_refused for d in self.days)

    @property
    def has_refusals(self) -> bool:
        return any(d.throttled or d.quota_refused for d in self.days)


CHART_WIDTH = 720
CHART_LEFT = 64
CHART_TOP = 22
PANEL_HEIGHT = 120
PANEL_GAP = 48
CHART_HEIGHT = CHART_TOP + PANEL_HEIGHT + PANEL_GAP + PANEL_HEIGHT + 26


def _nice_ceiling(value: int) -> int:
    """Round `value` up to 1, 2, 2.5 or 5 times a power of ten (31 → 50, 20,000 → 20,000)."""
    if value <= 0:
        return 1
    power = 10 ** (len(str(value)) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return max(1, int(step * power))
    return value


def _ticks(bottom: float, height: float, maximum: int) -> tuple[ChartTick, ...]:
    return tuple(
        ChartTick(at=round(bottom - height * fraction, 1), label=f"{round(maximum * fraction):,}")
        for fraction in ((0, 0.5, 1) if maximum % 2 == 0 else (0, 1))
    )


def _refused_by_day(*, key: PartnerApiKey, start: date, end: date) -> dict[date, tuple[int, int]]:
    """Requests refused per UTC day (throttled, over the quota) from the hourly traffic rollups."""
    rows = (
        TrafficHour.objects.filter(
            key=key,
            method=ALL_METHODS,
            hour__gte=datetime.combine(start, datetime.min.time(), tzinfo=UTC),
            hour__lt=datetime.combine(end + timedelta(days=1), datetime.min.time(), tzinfo=UTC),
        )
        .annotate(day=TruncDate("hour", tzinfo=UTC))
        .values("day")
        .annotate(throttled_sum=Sum("throttled"), quota_sum=Sum("quota_refused"))
    )
    return {row["day"]: (int(row["throttled_sum"] or 0), int(row["quota_sum"] or 0)) for row in rows}


def key_usage_chart(
    *, user: Any, key: PartnerApiKey, days: int = 30, now: datetime | None = None
) -> UsageChart:
    """Return the key's use per day over the last `days` days against its quota (three queries).

    Bars are requests per day on their own scale, with the requests refused as throttled or over
    the quota (429, from the traffic rollups) stacked on top; below, the solid line is the use so
    far in the quota period and the dashed line the period's quota (plus its top-ups), on theirs.
    Raises AccessDenied.
    """
    require(user, Action.MANAGE_PARTNERS)
    now = _now(now)
    today = now.astimezone(UTC).date()
    start = today - timedelta(days=days - 1)
    used_by_day = {
        row.day: row.used for row in KeyUsage.objects.filter(key=key, day__gte=start, day__lte=today)
    }
    refused_by_day = _refused_by_day(key=key, start=start, end=today)
    plan = key.plan
    top_ups: dict[datetime, int] = defaultdict(int)
    if plan.has_quota:
        for top_up in QuotaTopUp.objects.filter(key=key).only("amount", "period_start"):
            top_ups[top_up.period_start] += top_up.amount
    raw: list[tuple[date, int, int, int | None]] = []
    period_used = 0
    current_period: datetime | None = None
    for n in range(days):
        day = start + timedelta(days=n)
        used = used_by_day.get(day, 0)
        quota: int | None = None
        if plan.has_quota and plan.quota_limit is not None:
            at = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
            period_start, _ = period_bounds(plan.quota_period, plan.quota_offset, at)
            if period_start != current_period:
                current_period = period_start
                period_used = 0
            quota = plan.quota_limit + top_ups.get(period_start, 0)
        period_used += used
        raw.append((day, used, period_used, quota))
    y_max = _nice_ceiling(max(r[1] + sum(refused_by_day.get(r[0], (0, 0))) for r in raw))
    period_max = _nice_ceiling(max([r[2] for r in raw] + [r[3] or 0 for r in raw]))
    plot_width = CHART_WIDTH - CHART_LEFT - 8
    bottom = CHART_TOP + PANEL_HEIGHT
    period_top = bottom + PANEL_GAP
    period_bottom = period_top + PANEL_HEIGHT
    slot = plot_width / days
    bar_width = max(2.0, slot * 0.7)

    def y_of(value: int) -> float:
        return round(CHART_TOP + PANEL_HEIGHT * (1 - value / y_max), 1)

    def period_y_of(value: int) -> float:
        return round(period_top + PANEL_HEIGHT * (1 - value / period_max), 1)

    chart_days = []
    for index, (day, used, cumulative, quota) in enumerate(raw):
        x = round(CHART_LEFT + index * slot + (slot - bar_width) / 2, 1)
        bar_y = y_of(used)
        throttled, quota_refused = refused_by_day.get(day, (0, 0))
        throttled_y = y_of(used + throttled)
        quota_y = y_of(used + throttled + quota_refused)
        chart_days.append(
            ChartDay(
                day=day,
                used=used,
                period_used=cumulative,
                quota=quota,
                x=x,
                bar_y=bar_y,
                bar_height=round(bottom - bar_y, 1),
                throttled=throttled,
                quota_refused=quota_refused,
                throttled_y=throttled_y,
                throttled_height=round(bar_y - throttled_y, 1),
                quota_y=quota_y,
                quota_height=round(throttled_y - quota_y, 1),
            )
        )
    centre = [round(d.x + bar_width / 2, 1) for d in chart_days]
    has_quota = any(d.quota is not None for d in chart_days)
    period_points = (
        " ".join(f"{cx},{period_y_of(d.period_used)}" for cx, d in zip(centre, chart_days, strict=True))
        if has_quota
        else ""
    )
    quota_points = " ".join(
        f"{cx},{period_y_of(d.quota)}"
        for cx, d in zip(centre, chart_days, strict=True)
        if d.quota is not None
    )
    # A day label a week apart, counted back from today so the last bar is always labelled.
    x_ticks = tuple(
        ChartTick(at=cx, label=f"{d.day.day} {d.day:%b}")
        for index, (cx, d) in enumerate(zip(centre, chart_days, strict=True))
        if (len(chart_days) - 1 - index) % 7 == 0
    )
    return UsageChart(
        days=chart_days,
        width=CHART_WIDTH,
        height=CHART_HEIGHT,
        top=CHART_TOP,
        bottom=bottom,
        left=CHART_LEFT,
        bar_width=round(bar_width, 1),
        y_max=y_max,
        period_points=period_points,
        quota_points=quota_points,
        period=plan.quota_period,
        period_top=period_top,
        period_bottom=period_bottom,
        period_max=period_max,
        y_ticks=_ticks(bottom, PANEL_HEIGHT, y_max),
        period_ticks=_ticks(period_bottom, PANEL_HEIGHT, period_max),
        x_ticks=x_ticks,
    )


__all__ = [
    "FINAL_STATUSES",
    "QuotaAlert",
    "UsageChart",
    "UsageSummary",
    "expiring_keys",
    "key_get",
    "key_list",
    "key_top_ups",
    "key_usage_chart",
    "partner_get",
    "partner_list",
    "plan_get",
    "plan_limit_warning",
    "plan_list",
    "quota_alerts",
    "sync_problems",
    "usage_summaries",
]
