"""Usage pulled from the gateway into daily rows (`manage.py gateway sync-usage`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from accounts.partners.gateway import get_gateway
from accounts.partners.models import (
    KeyStatus,
    KeyUsage,
    PartnerApiKey,
)
from accounts.partners.services.sync import key_spec, plan_spec


def usage_sync(*, days: int = 2, now: datetime | None = None) -> int:
    """Store each key's usage of the last `days` UTC days (gateway or limiter counters) as
    KeyUsage rows; return how many rows were written. Raises GatewayError when the gateway fails."""
    now = now or timezone.now()
    end = now.astimezone(UTC).date()
    start = end - timedelta(days=max(1, days) - 1)
    since = datetime.combine(start, datetime.min.time(), tzinfo=UTC)
    gateway = get_gateway()
    keys = list(
        PartnerApiKey.objects.select_related("plan", "partner").filter(
            Q(status__in=[KeyStatus.ACTIVE, KeyStatus.SUSPENDED]) | Q(status_changed_at__gte=since)
        )
    )
    by_plan: dict[int, list[PartnerApiKey]] = {}
    for key in keys:
        by_plan.setdefault(key.plan_id, []).append(key)
    rows: list[KeyUsage] = []
    stamp = timezone.now()
    for plan_keys in by_plan.values():
        plan = plan_keys[0].plan
        # botocore retries a throttled GetUsage; what still fails raises, and the hourly run retries.
        usage = gateway.usage(
            plan=plan_spec(plan), keys=[key_spec(k) for k in plan_keys], start=start, end=end
        )
        for key_pk, day_rows in usage.items():
            rows.extend(
                KeyUsage(key_id=key_pk, day=d.day, used=d.used, remaining=d.remaining, updated_at=stamp)
                for d in day_rows
            )
    if rows:
        KeyUsage.objects.bulk_create(
            rows,
            batch_size=1000,
            update_conflicts=True,
            unique_fields=["key", "day"],
            update_fields=["used", "remaining", "updated_at"],
        )
    return len(rows)
