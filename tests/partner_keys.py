"""A partner key on a generous local plan, for tests that call the keyed feed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from accounts.partners import enforcement
from accounts.partners.gateway import set_gateway
from accounts.partners.gateway.sqlite_limits import SQLiteStorage
from accounts.partners.services import PlanInput, key_issue, partner_create, plan_create


@contextmanager
def generous_partner_key(settings: Any, tmp_path: Path, name: str) -> Iterator[str]:
    """Yield the secret of a key on a plan no test reaches (local gateway, own limiter file)."""
    settings.GATEWAY_BACKEND = "local"
    settings.API_GATEWAY_STAGES = ["meridian:local"]
    set_gateway(None)
    enforcement.set_limiter(enforcement.PartnerLimiter(SQLiteStorage(path=tmp_path / "limits.sqlite3")))
    try:
        partner = partner_create(actor=None, name=name)
        plan = plan_create(
            actor=None,
            data=PlanInput(
                name=name,
                rate_limit=10_000,
                burst_limit=5_000,
                quota_limit=1_000_000,
                quota_period="DAY",
                quota_offset=0,
                api_stages=["meridian:local"],
            ),
        )
        yield key_issue(actor=None, partner=partner, plan=plan, name=name.lower()).secret
    finally:
        enforcement.set_limiter(None)
        set_gateway(None)
