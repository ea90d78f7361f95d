"""The gateway sync machinery: specs built from rows, calls after commit, and the sync state recorded.

No retry loop here: botocore's standard mode already retries each call that was throttled or
met a 5xx (API_GATEWAY_CLIENT_MAX_ATTEMPTS), and a loop around it would multiply the attempts
and hold the request or task meanwhile. A sync that still fails is recorded "failed" with its
error; `manage.py gateway reconcile --repair` and the portal's retry button run it again.
"""

from __future__ import annotations

from typing import Any

from django.db.models import F
from django.utils import timezone

from accounts.partners.gateway import Gateway, GatewayError, get_gateway
from accounts.partners.gateway.base import KeySpec, MethodThrottle, PlanSpec
from accounts.partners.gateway.quota import period_bounds
from accounts.partners.models import (
    FINAL_STATUSES,
    KeyStatus,
    PartnerApiKey,
    QuotaTopUp,
    SyncState,
    UsagePlan,
)
from accounts.partners.services.base import logger
from portal.observability import metrics


def _mark(model: type[UsagePlan] | type[PartnerApiKey] | type[QuotaTopUp], pk: int, **values: Any) -> None:
    model.objects.filter(pk=pk).update(sync_attempts=F("sync_attempts") + 1, **values)


def _mark_failed(
    model: type[UsagePlan] | type[PartnerApiKey] | type[QuotaTopUp], pk: int, exc: Exception
) -> None:
    logger.warning("Gateway sync of %s %s failed: %s", model.__name__, pk, exc)
    metrics.count("GatewaySyncFailures", model=model.__name__)
    _mark(model, pk, sync_state=SyncState.FAILED, sync_error=str(exc)[:2000])


def plan_sync(*, plan_id: int) -> str:
    """Make the gateway hold plan `plan_id` as the database does; record and return the state.

    Never raises for gateway failures: they are recorded as sync state "failed".
    """
    plan = UsagePlan.objects.filter(pk=plan_id).first()
    if plan is None:
        return SyncState.FAILED
    gateway = get_gateway()
    seen = plan.updated_at
    try:
        if plan.deleted_at is not None:
            gateway.plan_delete(plan_spec(plan))
            gateway_id = ""
        else:
            gateway_id = gateway.plan_put(plan_spec(plan))
    except GatewayError as exc:
        _mark_failed(UsagePlan, plan.pk, exc)
        return SyncState.FAILED
    # Only a sync of the latest version may say "synced"; a newer edit has its own sync queued.
    state = SyncState.SYNCED
    updated = UsagePlan.objects.filter(pk=plan.pk, updated_at=seen).update(
        gateway_id=gateway_id,
        sync_state=SyncState.SYNCED,
        sync_error="",
        synced_at=timezone.now(),
        sync_attempts=F("sync_attempts") + 1,
    )
    if not updated:
        UsagePlan.objects.filter(pk=plan.pk).update(gateway_id=gateway_id)
        state = SyncState.PENDING
    return state


def _gateway_key_name(key: PartnerApiKey) -> str:
    # The id prefix lets the gateway adapter find a key by name after an unrecorded create.
    return f"meridian-{key.pk}-{key.partner.name}-{key.name}"[:128]


def key_spec(key: PartnerApiKey) -> KeySpec:
    """Return `key` as the gateway should hold it."""
    return KeySpec(
        pk=key.pk,
        gateway_id=key.gateway_id,
        name=_gateway_key_name(key),
        description=f"{key.partner.name}: {key.name} ({key.display})",
        enabled=key.status == KeyStatus.ACTIVE and key.partner.active,
        present=key.status not in FINAL_STATUSES,
        plan_gateway_id=key.plan.gateway_id,
        plan_pk=key.plan_id,
    )


def _carry_over(gateway: Gateway, key: PartnerApiKey) -> None:
    """Give the new key of a rotation the quota its predecessor had left."""
    old = key.replaces
    if old is None:
        return
    now = timezone.now()
    remaining = gateway.remaining(plan=plan_spec(old.plan), key=key_spec(old), at=now)
    if remaining is not None:
        gateway.set_remaining(plan=plan_spec(key.plan), key=key_spec(key), remaining=remaining, at=now)


def key_sync(*, key_id: int, secret: str | None = None) -> str:
    """Make the gateway hold key `key_id` as the database does; record and return the state.

    `secret` is needed only to create the key on the gateway (right after issue). Never raises
    for gateway failures: they are recorded as sync state "failed".
    """
    key = (
        PartnerApiKey.objects.select_related("plan", "partner", "replaces__plan", "replaces__partner")
        .filter(pk=key_id)
        .first()
    )
    if key is None:
        return SyncState.FAILED
    gateway = get_gateway()
    seen = key.updated_at
    try:
        if key.status not in FINAL_STATUSES and gateway.name != "local" and not key.plan.gateway_id:
            if plan_sync(plan_id=key.plan_id) != SyncState.SYNCED:
                raise GatewayError(f"The key's plan {key.plan.name!r} is not on the gateway yet.")
            key.plan.refresh_from_db()
        gateway_id = gateway.key_put(key_spec(key), secret)
        if gateway_id:
            key.gateway_id = gateway_id
        if key.carry_over_pending and key.status not in FINAL_STATUSES:
            _carry_over(gateway, key)
            PartnerApiKey.objects.filter(pk=key.pk).update(carry_over_pending=False)
    except GatewayError as exc:
        if key.gateway_id:
            # The key may exist on the gateway even though a later step failed: keep its id.
            PartnerApiKey.objects.filter(pk=key.pk).update(gateway_id=key.gateway_id)
        _mark_failed(PartnerApiKey, key.pk, exc)
        return SyncState.FAILED
    values: dict[str, Any] = {"gateway_id": "" if key.status in FINAL_STATUSES else key.gateway_id}
    updated = PartnerApiKey.objects.filter(pk=key.pk, updated_at=seen).update(
        sync_state=SyncState.SYNCED,
        sync_error="",
        synced_at=timezone.now(),
        sync_attempts=F("sync_attempts") + 1,
        **values,
    )
    if not updated:
        PartnerApiKey.objects.filter(pk=key.pk).update(**values)
        return SyncState.PENDING
    return SyncState.SYNCED


def top_up_sync(*, top_up_id: int) -> str:
    """Grant a recorded top-up on the gateway once; record and return the state.

    Never raises for gateway failures: they are recorded as sync state "failed".
    """
    top_up = QuotaTopUp.objects.select_related("key__plan", "key__partner").filter(pk=top_up_id).first()
    if top_up is None or top_up.sync_state == SyncState.SYNCED:
        return SyncState.SYNCED if top_up else SyncState.FAILED
    gateway = get_gateway()
    key = top_up.key
    now = timezone.now()
    start, end = period_bounds(key.plan.quota_period or "DAY", key.plan.quota_offset, now)
    if not start <= top_up.period_start < end:
        _mark(QuotaTopUp, top_up.pk, sync_state=SyncState.FAILED, sync_error="Its quota period has ended.")
        return SyncState.FAILED
    try:
        # Not retried automatically: AWS's top-up is read-then-replace, so a retry after an
        # unrecorded success would grant twice. A person retries with the button instead.
        gateway.add_remaining(plan=plan_spec(key.plan), key=key_spec(key), amount=top_up.amount, at=now)
    except GatewayError as exc:
        _mark_failed(QuotaTopUp, top_up.pk, exc)
        return SyncState.FAILED
    _mark(QuotaTopUp, top_up.pk, sync_state=SyncState.SYNCED, sync_error="", synced_at=now)
    return SyncState.SYNCED


def plan_spec(plan: UsagePlan) -> PlanSpec:
    """Return `plan` as the gateway should hold it."""
    throttles = tuple(
        MethodThrottle(stage=stage, path=path, rate=float(t["rate"]), burst=int(t["burst"]))
        for stage, methods in sorted((plan.method_throttles or {}).items())
        for path, t in sorted(methods.items())
    )
    return PlanSpec(
        pk=plan.pk,
        gateway_id=plan.gateway_id,
        name=plan.name,
        description=plan.description,
        rate=float(plan.rate_limit),
        burst=plan.burst_limit,
        quota_limit=plan.quota_limit if plan.has_quota else None,
        quota_period=plan.quota_period if plan.has_quota else "",
        quota_offset=plan.quota_offset if plan.has_quota else 0,
        stages=tuple(plan.api_stages),
        method_throttles=throttles,
    )
