"""Demo data for the partners area: Sam's journey (the admin's day in the README's tour) ready to try.

Optus on "Partner Gold" (rate 50/s, burst 500, 20,000 requests a month: the figures of AWS's own
console example) with one key. The key's secret is written once, when the key is created.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from django.core.exceptions import ValidationError

from accounts.partners.enforcement import get_limiter, local_stage
from accounts.partners.models import KeyUsage, Partner, PartnerApiKey, TrafficMinute, UsagePlan
from accounts.partners.services import (
    IssuedKey,
    PlanInput,
    key_issue,
    partner_create,
    plan_create,
    usage_sync,
)
from accounts.partners.traffic.aggregation import minute_of
from accounts.partners.traffic.demo import demo_requests
from accounts.partners.traffic.services import traffic_ingest

PARTNER = "Optus"
PLAN = "Partner Gold"
KEY_NAME = "Optus TV app"


def load_partner_demo(*, write: Callable[[str], object] = sys.stdout.write) -> IssuedKey | None:
    """Create the demo partner, plan and key unless they exist; return the new key (or None)."""
    partner = Partner.objects.filter(name=PARTNER).first() or partner_create(
        actor=None,
        name=PARTNER,
        contact_name="Partner integrations",
        contact_email="partners@optus.example.com",
        notes="Partner edition AU-OPTUS.",
        via="command",
    )
    plan = UsagePlan.objects.filter(name=PLAN, deleted_at__isnull=True).first()
    if plan is None:
        try:
            plan = plan_create(
                actor=None,
                data=PlanInput(
                    name=PLAN,
                    description="Premium partners: AWS's console example figures.",
                    rate_limit=50,
                    burst_limit=500,
                    quota_limit=20_000,
                    quota_period="MONTH",
                    quota_offset=0,
                    api_stages=[local_stage()],
                ),
                via="command",
            )
        except ValidationError as exc:
            write(f"Partner demo skipped: the plan's stage is not valid here ({'; '.join(exc.messages)}).\n")
            return None
    if partner.keys.exists():
        return None
    issued = key_issue(actor=None, partner=partner, plan=plan, name=KEY_NAME, via="command")
    write(
        f"Partner demo: {PARTNER} key on {PLAN} (shown once, store it now):\n"
        f"  x-api-key: {issued.secret}\n"
        f"  try: curl -H 'x-api-key: {issued.secret}' http://127.0.0.1:8000/partners/probe/\n"
    )
    return issued


# Sam's morning: the demo key has used 82 % of its month, so the dashboard and the bell warn.
DEMO_QUOTA_SHARE = 0.82


def load_usage_demo(*, now: datetime | None = None) -> int | None:
    """Count this month's demo requests (82 % of the quota) in the local limiter and sync them.

    The requests are counted where the local enforcement counts real ones, then the usual
    `usage_sync` service stores them, so the dashboard, the bell and the usage chart read them as
    they read any key's. Does nothing (0) when the key already has usage this month; None: no key.
    """
    key = PartnerApiKey.objects.filter(partner__name=PARTNER, name=KEY_NAME).select_related("plan").first()
    if key is None or key.plan.quota_limit is None:
        return None
    now = now or datetime.now(UTC)
    today = now.date()
    first = today.replace(day=1)
    if KeyUsage.objects.filter(key=key, day__gte=first).exclude(used=0).exists():
        return 0
    limiter = get_limiter()
    days = [first + timedelta(days=n) for n in range((today - first).days + 1)]
    total = int(key.plan.quota_limit * DEMO_QUOTA_SHARE)
    # More on weekdays than at weekends, the rest on the last day so the total is exact.
    weights = [3 if day.weekday() < 5 else 1 for day in days]
    counts = [total * w // sum(weights) for w in weights]
    counts[-1] += total - sum(counts)
    for day, count in zip(days, counts, strict=True):
        limiter.add_day_used(key.pk, day, count)
    limiter.add_period_used(key.pk, key.plan.quota_period, key.plan.quota_offset, now, total)
    return usage_sync(days=len(days), now=now)


def load_traffic_demo(
    *, hours: int = 24, now: datetime | None = None, fresh_for: timedelta | None = None
) -> int | None:
    """Write `hours` of demo traffic for the demo key (through the real aggregation); None: no key.

    With `fresh_for`, nothing is written (0) while the key has traffic newer than that.
    """
    key = PartnerApiKey.objects.filter(partner__name=PARTNER, name=KEY_NAME).select_related("plan").first()
    if key is None:
        return None
    end = minute_of(now or datetime.now(UTC))
    if fresh_for is not None and TrafficMinute.objects.filter(key=key, minute__gte=end - fresh_for).exists():
        return 0
    requests = demo_requests(
        key_id=key.pk, stage=local_stage(), end=end, hours=hours, burst_limit=key.plan.burst_limit
    )
    return traffic_ingest(requests=requests, start=end - timedelta(hours=hours), end=end)
