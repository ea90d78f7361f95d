"""Demo data for the partners area: Sam's journey (the admin's day in the README's tour) ready to try.

Optus on "Partner Gold" (rate 50/s, burst 500, 20,000 requests a month: the figures of AWS's own
console example) with one key. The key's secret is written once, when the key is created.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from django.core.exceptions import ValidationError

from accounts.partners.enforcement import local_stage
from accounts.partners.models import Partner, PartnerApiKey, TrafficMinute, UsagePlan
from accounts.partners.services import IssuedKey, PlanInput, key_issue, partner_create, plan_create
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
