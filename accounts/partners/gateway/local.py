"""The embedded gateway: nothing to call. The portal enforces plans itself (accounts.partners.enforcement),
so syncing only marks objects synced, and usage and quota live in the limiter's storage."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

from django.conf import settings

from accounts.partners.gateway.base import DayUsage, GatewayInventory, KeySpec, PlanSpec
from accounts.partners.gateway.quota import period_bounds

if TYPE_CHECKING:
    from accounts.partners.enforcement import PartnerLimiter


def _limiter() -> PartnerLimiter:
    # Imported on use: the enforcement module pulls in `limits` and the storage client.
    from accounts.partners.enforcement import get_limiter

    return get_limiter()


class LocalGateway:
    name = "local"

    def validate_stages(self, stages: list[str]) -> dict[str, str]:
        known = set(settings.API_GATEWAY_STAGES)
        return {
            stage: f"No stage {stage!r} here; this deployment serves {', '.join(sorted(known)) or 'none'}."
            for stage in stages
            if stage not in known
        }

    def plan_put(self, plan: PlanSpec) -> str:
        return ""

    def plan_delete(self, plan: PlanSpec) -> None:
        return None

    def key_put(self, key: KeySpec, secret: str | None) -> str:
        return ""

    def key_delete(self, key: KeySpec) -> None:
        return None

    def remaining(self, *, plan: PlanSpec, key: KeySpec, at: datetime) -> int | None:
        if plan.quota_limit is None or not plan.quota_period:
            return None
        used = _limiter().period_used(key.pk, plan.quota_period, plan.quota_offset, at)
        return plan.quota_limit - used

    def set_remaining(self, *, plan: PlanSpec, key: KeySpec, remaining: int, at: datetime) -> None:
        if plan.quota_limit is None or not plan.quota_period:
            return
        limiter = _limiter()
        used = limiter.period_used(key.pk, plan.quota_period, plan.quota_offset, at)
        limiter.add_period_used(
            key.pk, plan.quota_period, plan.quota_offset, at, (plan.quota_limit - remaining) - used
        )

    def add_remaining(self, *, plan: PlanSpec, key: KeySpec, amount: int, at: datetime) -> None:
        if plan.quota_limit is None or not plan.quota_period:
            return
        _limiter().add_period_used(key.pk, plan.quota_period, plan.quota_offset, at, -amount)

    def usage(
        self, *, plan: PlanSpec, keys: list[KeySpec], start: date, end: date
    ) -> dict[int, list[DayUsage]]:
        limiter = _limiter()
        days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
        result: dict[int, list[DayUsage]] = {}
        for key in keys:
            used = {day: limiter.day_used(key.pk, day) for day in days}
            rows = []
            for day in days:
                rows.append(
                    DayUsage(day=day, used=used[day], remaining=self._remaining_after(plan, key, day, used))
                )
            result[key.pk] = rows
        return result

    def _remaining_after(self, plan: PlanSpec, key: KeySpec, day: date, used: dict[date, int]) -> int | None:
        """Quota left at the end of `day`: the period's counter, minus what later days used."""
        if plan.quota_limit is None or not plan.quota_period:
            return None
        at = datetime.combine(day, time(12), tzinfo=UTC)
        _, end = period_bounds(plan.quota_period, plan.quota_offset, at)
        later = sum(n for d, n in used.items() if d > day and d < end.date())
        remaining = self.remaining(plan=plan, key=key, at=at)
        return None if remaining is None else remaining + later

    def inventory(self) -> GatewayInventory | None:
        return None
