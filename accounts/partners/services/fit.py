"""Applying a traffic recommendation (accounts/partners/traffic/selectors.py) to a usage plan.

Kept beside the plan services, not in the traffic package: the local enforcement records traffic
and the plan services import the enforcement, so the traffic package must not import them.
"""

from __future__ import annotations

from accounts.models import User
from accounts.partners.gateway.base import MethodThrottle
from accounts.partners.models import PartnerApiKey, UsagePlan
from accounts.partners.services.base import PlanInput
from accounts.partners.services.plans import plan_update

__all__ = ["traffic_plan_recommendation_apply", "traffic_recommendation_apply"]


def traffic_recommendation_apply(
    *,
    actor: User | None,
    key: PartnerApiKey,
    rate: int,
    burst: int,
    quota_limit: int | None,
    via: str = "portal",
) -> UsagePlan:
    """Set the key's plan to a recommended rate, burst and quota (see `traffic_plan_recommendation_apply`)."""
    return traffic_plan_recommendation_apply(
        actor=actor, plan=key.plan, rate=rate, burst=burst, quota_limit=quota_limit, via=via
    )


def traffic_plan_recommendation_apply(
    *,
    actor: User | None,
    plan: UsagePlan,
    rate: int | None,
    burst: int,
    quota_limit: int | None,
    via: str = "portal",
) -> UsagePlan:
    """Set `plan` to a recommended rate (None: keep the plan's), burst and quota through `plan_update`.

    The change is the plan editor's: access checked, audited as `usage_plan.update`, synced to
    the gateway after commit, for every key on the plan. The quota is changed only when the plan
    has one and a quota is given; per-method throttles are kept. Raises AccessDenied;
    ValidationError on values the plan editor refuses.
    """
    throttles = tuple(
        MethodThrottle(stage=stage, path=path, rate=float(t["rate"]), burst=int(t["burst"]))
        for stage, methods in sorted((plan.method_throttles or {}).items())
        for path, t in sorted(methods.items())
    )
    return plan_update(
        actor=actor,
        plan=plan,
        data=PlanInput(
            name=plan.name,
            description=plan.description,
            rate_limit=rate if rate is not None else plan.rate_limit,
            burst_limit=burst,
            # An empty quota keeps the plan's.
            quota_limit=(quota_limit or plan.quota_limit) if plan.has_quota else None,
            quota_period=plan.quota_period if plan.has_quota else "",
            quota_offset=plan.quota_offset if plan.has_quota else 0,
            api_stages=list(plan.api_stages),
            method_throttles=throttles,
        ),
        via=via,
    )
