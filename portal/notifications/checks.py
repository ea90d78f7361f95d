"""Event detectors: each reads the portal's state and returns the occurrences it finds.

A detector is pure reading: it may return the same occurrence on every run, and the
`occurrence_key` makes raising it again a no-op (services.notifications_detect). Keys name what
makes an occurrence new: the quota period and threshold, the key's expiry date, the last successful
sync, the newest dead letter, the oldest waiting row.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.urls import reverse

from accounts.partners.gateway.quota import period_bounds
from accounts.partners.models import KeyStatus, PartnerApiKey, QuotaTopUp, SyncState, UsagePlan
from accounts.partners.selectors import EXPIRY_WARNING, expiring_keys, quota_alerts
from accounts.partners.traffic.aggregation import ALL_METHODS
from accounts.partners.traffic.selectors import TrafficAlerts, traffic_alerts
from content.labels.models import ImageLabel, LabelStatus
from content.labels.selectors import failed_jobs, review_queue
from content.models import Position, PositionState
from markets.models import Market, Rule
from portal.notifications.models import EventKind, Severity
from portal.notifications.occurrence import Occurrence
from portal.shared_tables.models import OutboxEntry, OutboxKind, OutboxStatus


def quota_crossings(now: datetime) -> Iterator[Occurrence]:
    """A partner key's use passed 50, 80 or 100 % of its quota in the current period."""
    for alert in quota_alerts(now=now):
        key = alert.key
        start, _ = period_bounds(key.plan.quota_period, key.plan.quota_offset, now)
        yield Occurrence(
            kind=EventKind.QUOTA,
            key=f"quota:{key.pk}:{start:%Y-%m-%d}:{alert.level}",
            title=f"{key.partner.name} passed {alert.level} % of its quota ({key.name})",
            body=(
                f"Key {key.name} of {key.partner.name} used {alert.usage.used:,} of {alert.usage.quota:,} "
                f"requests this {key.plan.get_quota_period_display().lower()} (period from {start:%Y-%m-%d})."
            ),
            link=reverse("partners:key-detail", args=[key.pk]),
            severity=Severity.CRITICAL if alert.level >= 100 else Severity.WARNING,
            partner_id=key.partner_id,
            data={
                "key_id": key.pk,
                "threshold": alert.level,
                "used": alert.usage.used,
                "quota": alert.usage.quota,
            },
        )


def key_expiries(now: datetime) -> Iterator[Occurrence]:
    """A partner key expires within 7 days, or expired (in the last 7 days: older ones were told)."""
    for key in expiring_keys(now=now):
        assert key.expires_at is not None
        yield Occurrence(
            kind=EventKind.KEY_EXPIRING,
            key=f"key_expiring:{key.pk}:{key.expires_at:%Y-%m-%dT%H:%M}",
            title=f"{key.partner.name}'s key {key.name} expires on {key.expires_at:%Y-%m-%d %H:%M} UTC",
            body="Rotate the key or extend it before it stops working.",
            link=reverse("partners:key-detail", args=[key.pk]),
            partner_id=key.partner_id,
            data={"key_id": key.pk, "expires_at": key.expires_at.isoformat()},
        )
    expired = (
        PartnerApiKey.objects.select_related("partner")
        .filter(expires_at__lte=now, expires_at__gt=now - EXPIRY_WARNING)
        .exclude(status=KeyStatus.REVOKED)
        .order_by("expires_at", "id")
    )
    for key in expired:
        assert key.expires_at is not None
        yield Occurrence(
            kind=EventKind.KEY_EXPIRED,
            key=f"key_expired:{key.pk}:{key.expires_at:%Y-%m-%dT%H:%M}",
            title=f"{key.partner.name}'s key {key.name} expired on {key.expires_at:%Y-%m-%d %H:%M} UTC",
            body="Requests with this key are refused. Issue a new key if the partner still needs one.",
            link=reverse("partners:key-detail", args=[key.pk]),
            severity=Severity.CRITICAL,
            partner_id=key.partner_id,
            data={"key_id": key.pk, "expires_at": key.expires_at.isoformat()},
        )


def _traffic_alerts(now: datetime) -> TrafficAlerts:
    return traffic_alerts(
        now=now,
        throttled_percent=settings.NOTIFICATIONS_TRAFFIC_THROTTLED_PERCENT,
        min_minutes=settings.NOTIFICATIONS_TRAFFIC_MIN_MINUTES,
        burst_percent=settings.NOTIFICATIONS_TRAFFIC_BURST_PERCENT,
        jump_factor=settings.NOTIFICATIONS_TRAFFIC_JUMP_FACTOR,
        jump_min_requests=settings.NOTIFICATIONS_TRAFFIC_JUMP_MIN_REQUESTS,
    )


def partner_traffic(now: datetime) -> Iterator[Occurrence]:
    """Partner traffic of the last hour (one read for the three kinds): throttled, bursts, jumps."""
    alerts = _traffic_alerts(now)
    yield from _throttled(alerts, now)
    yield from _bursts(alerts, now)
    yield from _jumps(alerts)


def _throttled(alerts: TrafficAlerts, now: datetime) -> Iterator[Occurrence]:
    """A key was throttled in more than X % of its active minutes: once a key and UTC day."""
    for alert in alerts.throttled:
        key = alert.key
        yield Occurrence(
            kind=EventKind.TRAFFIC_THROTTLED,
            key=f"traffic_throttled:{key.pk}:{now:%Y-%m-%d}",
            title=(
                f"{key.partner.name}'s key {key.name} was throttled in {alert.percent:.0f} % of its minutes"
            ),
            body=(
                f"In the last hour {alert.throttled:,} requests were refused as throttled (429), in "
                f"{alert.throttled_minutes} of {alert.minutes} active minutes, on plan {key.plan.name} "
                f"({key.plan.rate_limit.normalize():f}/s, burst {key.plan.burst_limit}). See the plan's Fit."
            ),
            link=reverse("partners:key-traffic", args=[key.pk]),
            partner_id=key.partner_id,
            data={
                "key_id": key.pk,
                "minutes": alert.minutes,
                "throttled_minutes": alert.throttled_minutes,
                "throttled": alert.throttled,
            },
        )


def _bursts(alerts: TrafficAlerts, now: datetime) -> Iterator[Occurrence]:
    """A burst (all methods, or a throttled method) came near its limit: once a key, method and UTC day."""
    for alert in alerts.bursts:
        key = alert.key
        what = "all methods" if alert.method == ALL_METHODS else alert.method
        yield Occurrence(
            kind=EventKind.TRAFFIC_BURST,
            key=f"traffic_burst:{key.pk}:{alert.method}:{now:%Y-%m-%d}"[:200],
            title=f"{key.partner.name}'s key {key.name} burst to {alert.burst} of {alert.limit} ({what})",
            body=(
                f"At {alert.minute:%Y-%m-%d %H:%M} UTC the key made {alert.burst} requests in one second "
                f"({what}); the limit is {alert.limit}. Beyond it API Gateway answers 429."
            ),
            link=reverse("partners:key-traffic", args=[key.pk]),
            partner_id=key.partner_id,
            data={
                "key_id": key.pk,
                "method": alert.method,
                "minute": alert.minute.isoformat(),
                "burst": alert.burst,
                "limit": alert.limit,
            },
        )


def _jumps(alerts: TrafficAlerts) -> Iterator[Occurrence]:
    """A key's last hour was far above its mean hour of the week before: once a key and UTC day."""
    for alert in alerts.jumps:
        key = alert.key
        yield Occurrence(
            kind=EventKind.TRAFFIC_JUMP,
            key=f"traffic_jump:{key.pk}:{alert.hour:%Y-%m-%d}",
            title=(
                f"{key.partner.name}'s key {key.name} made {alert.requests:,} requests in an hour, "
                f"{alert.factor:.1f} × its usual"
            ),
            body=(
                f"{alert.hour:%Y-%m-%d %H}:00–{alert.hour:%H}:59 UTC: {alert.requests:,} requests; the "
                f"week before it averaged {alert.weekly_mean:,.0f} an hour."
            ),
            link=reverse("partners:key-traffic", args=[key.pk]),
            severity=Severity.INFO,
            partner_id=key.partner_id,
            data={
                "key_id": key.pk,
                "hour": alert.hour.isoformat(),
                "requests": alert.requests,
                "weekly_mean": round(alert.weekly_mean, 1),
            },
        )


def gateway_sync_failures(now: datetime) -> Iterator[Occurrence]:
    """A usage plan, key or top-up failed to reach the API gateway (once per failure after a success)."""
    sources: list[
        tuple[str, Any, Callable[[Any], str], Callable[[Any], str], Callable[[Any], int | None]]
    ] = [
        (
            "plan",
            UsagePlan.objects.all(),
            lambda o: o.name,
            lambda o: reverse("partners:plan-edit", args=[o.pk]),
            lambda o: None,
        ),
        (
            "key",
            PartnerApiKey.objects.select_related("partner"),
            lambda o: f"{o.partner.name} / {o.name}",
            lambda o: reverse("partners:key-detail", args=[o.pk]),
            lambda o: o.partner_id,
        ),
        (
            "top_up",
            QuotaTopUp.objects.select_related("key__partner"),
            lambda o: f"top-up of {o.amount:,} for {o.key.partner.name} / {o.key.name}",
            lambda o: reverse("partners:key-detail", args=[o.key_id]),
            lambda o: o.key.partner_id,
        ),
    ]
    for label, queryset, describe, link, partner_of in sources:
        for obj in queryset.filter(sync_state=SyncState.FAILED).order_by("id"):
            since = obj.synced_at.isoformat() if obj.synced_at else "never"
            yield Occurrence(
                kind=EventKind.GATEWAY_SYNC,
                key=f"gateway_sync:{label}:{obj.pk}:{since}",
                title=f"Gateway sync failed: {describe(obj)}",
                body=(obj.sync_error or "")[:1000],
                link=link(obj),
                partner_id=partner_of(obj),
                data={"object": label, "id": obj.pk},
            )


def _market_code(entry_kind: str, key: str) -> str | None:
    if entry_kind == OutboxKind.MARKET:
        return key
    if entry_kind == OutboxKind.POSITION:
        return key.split("|", 1)[0]
    return None


def publishing_dead_letters(now: datetime) -> Iterator[Occurrence]:
    """Changes became dead letters: one occurrence per market (and one for content and images) per
    newest dead letter, so a new failure is told again and an old one is not."""
    groups: dict[str | None, list[int]] = defaultdict(list)
    for pk, kind, key in OutboxEntry.objects.filter(status=OutboxStatus.DEAD).values_list(
        "id", "kind", "key"
    ):
        groups[_market_code(kind, key)].append(pk)
    markets = {m.code: m for m in Market.objects.filter(code__in=[c for c in groups if c])}
    for code, ids in sorted(groups.items(), key=lambda item: item[0] or ""):
        market = markets.get(code) if code else None
        scope = market.code if market else "global"
        where = f"in {market.code}" if market else "for content and images"
        yield Occurrence(
            kind=EventKind.DEAD_LETTERS,
            key=f"dead_letters:{scope}:{max(ids)}",
            title=f"{len(ids)} change(s) {where} could not be published",
            body="They are dead letters: the public apps do not see them until they are retried.",
            link=reverse("markets:detail", args=[market.code]) if market else reverse("publishing:outbox"),
            severity=Severity.CRITICAL,
            market_id=market.pk if market else None,
            data={"dead": len(ids), "newest_id": max(ids)},
        )


def outbox_backlog(now: datetime) -> Iterator[Occurrence]:
    """The oldest change waiting to be published is older than NOTIFICATIONS_OUTBOX_BACKLOG_MINUTES."""
    limit = now - timedelta(minutes=settings.NOTIFICATIONS_OUTBOX_BACKLOG_MINUTES)
    oldest = (
        OutboxEntry.objects.filter(status=OutboxStatus.PENDING, created_at__lte=limit)
        .order_by("created_at", "id")
        .values_list("id", "created_at")
        .first()
    )
    if oldest is None:
        return
    waiting = OutboxEntry.objects.filter(status=OutboxStatus.PENDING).count()
    yield Occurrence(
        kind=EventKind.OUTBOX_BACKLOG,
        key=f"outbox_backlog:{oldest[0]}",
        title=f"{waiting} change(s) waiting to be published, the oldest since {oldest[1]:%Y-%m-%d %H:%M} UTC",
        body="Publishing is behind: check the shared tables and the publishing page.",
        link=reverse("publishing:outbox"),
        data={"pending": waiting, "oldest_id": oldest[0]},
    )


def label_queue(now: datetime) -> Iterator[Occurrence]:
    """The label review queue is longer than NOTIFICATIONS_LABEL_QUEUE_MAX images (once a day while
    it is), or its oldest pending label is older than NOTIFICATIONS_LABEL_QUEUE_HOURS (once per label)."""
    waiting = review_queue().count()
    most = settings.NOTIFICATIONS_LABEL_QUEUE_MAX
    if waiting > most:
        yield Occurrence(
            kind=EventKind.LABEL_QUEUE,
            key=f"label_queue:size:{now:%Y-%m-%d}",
            title=f"{waiting} {'images wait' if waiting != 1 else 'image waits'} for label review "
            f"(more than {most})",
            link=reverse("labels:queue"),
            data={"waiting": waiting},
        )
    limit = now - timedelta(hours=settings.NOTIFICATIONS_LABEL_QUEUE_HOURS)
    oldest = (
        ImageLabel.objects.filter(status=LabelStatus.PENDING, created_at__lte=limit)
        .order_by("created_at", "id")
        .values_list("id", "created_at")
        .first()
    )
    if oldest is not None:
        yield Occurrence(
            kind=EventKind.LABEL_QUEUE,
            key=f"label_queue:age:{oldest[0]}",
            title=f"Labels wait for review since {oldest[1]:%Y-%m-%d %H:%M} UTC "
            f"(more than {settings.NOTIFICATIONS_LABEL_QUEUE_HOURS} h)",
            link=reverse("labels:queue"),
            data={"oldest_label_id": oldest[0]},
        )


def label_jobs_failed(now: datetime) -> Iterator[Occurrence]:
    """Labelling jobs gave up: once per newest failed job."""
    jobs = failed_jobs()
    if not jobs:
        return
    newest = max(job.pk for job in jobs)
    yield Occurrence(
        kind=EventKind.LABEL_JOBS,
        key=f"label_jobs_failed:{newest}",
        title=f"{len(jobs)} image(s) could not be labelled",
        body=(jobs[0].last_error or "")[:1000],
        link=reverse("labels:jobs"),
        data={"failed": len(jobs), "newest_job_id": newest},
    )


WINDOW_REMINDER = timedelta(hours=24)


def _window_edges(now: datetime) -> Iterator[tuple[int, int, str, str, datetime]]:
    """Yield (author id, market id, "positions" | "rules", "starts" | "ends", when) for every window
    edge in the next 24 hours of a position (not reset to default) or a rule with an author."""
    soon = {"gt": now, "lte": now + WINDOW_REMINDER}
    for edge in ("starts", "ends"):
        field_name = f"{edge}_at"
        lookups = {f"{field_name}__{op}": value for op, value in soon.items()}
        positions = Position.objects.exclude(state=PositionState.DEFAULT).filter(
            author__isnull=False, **lookups
        )
        rules = Rule.objects.filter(author__isnull=False, **lookups)
        for what, queryset in (("positions", positions), ("rules", rules)):
            for author_id, market_id, when in queryset.values_list("author_id", "market_id", field_name):
                yield author_id, market_id, what, edge, when


def my_windows(now: datetime) -> Iterator[Occurrence]:
    """Windows (of positions and rules) a user set that start or end within 24 hours: one reminder
    per author, market, start or end, and hour, so a campaign of hundreds of positions is one
    notification. Opt-in (kinds.py): only authors who switched it on receive it."""
    groups: dict[tuple[int, int, str, datetime], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for author_id, market_id, what, edge, when in _window_edges(now):
        hour = when.replace(minute=0, second=0, microsecond=0)
        groups[(author_id, market_id, edge, hour)][what] += 1
    markets = {m.pk: m for m in Market.objects.filter(pk__in={key[1] for key in groups})}
    for (author_id, market_id, edge, hour), counts in sorted(
        groups.items(), key=lambda item: (item[0][3], item[0])
    ):
        market = markets[market_id]
        what = " and ".join(f"{n} {name if n != 1 else name[:-1]}" for name, n in sorted(counts.items()))
        yield Occurrence(
            kind=EventKind.MY_WINDOW,
            key=f"my_window:{author_id}:{market.code}:{edge}:{hour:%Y-%m-%dT%H}",
            title=f"{what} you set in {market.code} {edge if sum(counts.values()) == 1 else edge[:-1]} "
            f"between "
            f"{hour:%Y-%m-%d %H}:00 and {hour:%H}:59 UTC",
            body=(
                "Check them before they go live."
                if edge == "starts"
                else "Extend them if the campaign should go on; otherwise they end on their own."
            ),
            link=reverse("markets:detail", args=[market.code]),
            severity=Severity.INFO,
            market_id=market.pk,
            data={**counts, "edge": edge, "hour": hour.isoformat()},
            recipients=(author_id,),
        )


DETECTORS: tuple[Callable[[datetime], Iterator[Occurrence]], ...] = (
    quota_crossings,
    key_expiries,
    gateway_sync_failures,
    partner_traffic,
    publishing_dead_letters,
    outbox_backlog,
    label_queue,
    label_jobs_failed,
    my_windows,
)
