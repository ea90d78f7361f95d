"""Writes for usage plans: throttle, burst, quota and stages, validated against API Gateway's limits."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.partners.gateway import Gateway, GatewayError, get_gateway
from accounts.partners.gateway.quota import offset_error
from accounts.partners.models import (
    FINAL_STATUSES,
    QuotaPeriod,
    SyncState,
    UsagePlan,
)
from accounts.partners.services.base import (
    MAX_BURST,
    MAX_QUOTA,
    MAX_RATE,
    METHOD_PATH_RE,
    PLAN_FIELDS,
    STAGE_RE,
    PlanInput,
    _after_commit,
    _forget_keys,
    _require,
)
from accounts.partners.services.sync import plan_sync
from portal.audit.services import AuditRecord, audit_record, snapshot


def _decimal(value: Decimal | float | int | str) -> Decimal | None:
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _plan_values(data: PlanInput, *, plan: UsagePlan | None, gateway: Gateway) -> dict[str, Any]:
    """Validate `data` as AWS would (and as moto does not); return the model's field values."""
    errors: dict[str, list[str]] = {}

    def error(field_name: str, message: str) -> None:
        errors.setdefault(field_name, []).append(message)

    name = data.name.strip()
    if not name:
        error("name", "Give the plan a name, e.g. 'Partner Gold'.")
    elif len(name) > 255:
        error("name", "Keep the name within 255 characters.")
    else:
        same = UsagePlan.objects.filter(name__iexact=name, deleted_at__isnull=True)
        if plan is not None:
            same = same.exclude(pk=plan.pk)
        if same.exists():
            error("name", f"There is already a plan named {name!r}.")
    rate = _decimal(data.rate_limit)
    if rate is None:
        error("rate_limit", "Enter the steady rate in requests per second, e.g. 50 or 0.5.")
    elif rate <= 0 or rate > MAX_RATE:
        error("rate_limit", f"The rate must be above 0 and at most {MAX_RATE} requests per second.")
    elif rate.as_tuple().exponent < -3:  # type: ignore[operator]
        error("rate_limit", "Use at most three decimal places.")
    if data.burst_limit < 1 or data.burst_limit > MAX_BURST:
        error("burst_limit", f"The burst must be between 1 and {MAX_BURST} requests.")
    period = (data.quota_period or "").upper()
    if data.quota_limit is None:
        if period:
            error("quota_limit", "Give the quota's number of requests, or clear its period.")
        period = ""
        offset = 0
    else:
        offset = data.quota_offset
        if data.quota_limit < 1 or data.quota_limit > MAX_QUOTA:
            error("quota_limit", f"The quota must be between 1 and {MAX_QUOTA:,} requests.")
        if period not in QuotaPeriod.values:
            error("quota_period", "Choose DAY, WEEK or MONTH.")
        else:
            problem = offset_error(period, offset)
            if problem:
                error("quota_offset", problem)
    stages = [s.strip() for s in data.api_stages if s.strip()]
    if not stages:
        error("api_stages", "Name at least one API stage as apiId:stage, e.g. a1b2c3d4e5:prod.")
    malformed = [s for s in stages if not STAGE_RE.match(s)]
    for stage in malformed:
        error("api_stages", f"{stage!r} is not apiId:stage (letters and digits, a colon, a stage name).")
    if len(set(stages)) != len(stages):
        error("api_stages", "Each stage may appear once.")
    throttles: dict[str, dict[str, dict[str, Any]]] = {}
    for t in data.method_throttles:
        label = f"{t.stage} {t.path}"
        if t.stage not in stages:
            error("method_throttles", f"{label}: the stage is not one of the plan's stages.")
        if not METHOD_PATH_RE.match(t.path):
            error("method_throttles", f"{label}: name the method as /resource/METHOD, e.g. /feed/GET.")
        if not (0 < t.rate <= float(MAX_RATE)) or not (1 <= t.burst <= MAX_BURST):
            error("method_throttles", f"{label}: rate must be above 0 and burst between 1 and {MAX_BURST}.")
        if t.path in throttles.get(t.stage, {}):
            error("method_throttles", f"{label}: listed twice.")
        throttles.setdefault(t.stage, {})[t.path] = {"rate": t.rate, "burst": t.burst}
    if stages and not malformed and "api_stages" not in errors:
        try:
            missing = gateway.validate_stages(stages)
        except GatewayError as exc:
            error("api_stages", f"Could not check the stages on the gateway: {exc}")
        else:
            for problem in missing.values():
                error("api_stages", problem)
    if errors:
        raise ValidationError(errors)
    return {
        "name": name,
        "description": data.description.strip(),
        # Quantized like the column, so an unchanged rate compares equal to the stored one.
        "rate_limit": rate.quantize(Decimal("0.001")) if rate is not None else rate,
        "burst_limit": data.burst_limit,
        "quota_limit": data.quota_limit,
        "quota_period": period,
        "quota_offset": offset,
        "api_stages": stages,
        "method_throttles": throttles,
    }


def _plan_audit(plan: UsagePlan, action: str, before: dict[str, Any] | None) -> AuditRecord:
    after = snapshot(plan, PLAN_FIELDS)
    after["rate_limit"] = str(plan.rate_limit)
    return AuditRecord(
        action=action,
        object_type="usage_plan",
        object_id=str(plan.pk),
        object_repr=plan.name,
        before=before,
        after=after,
    )


def _plan_snapshot(plan: UsagePlan) -> dict[str, Any]:
    data = snapshot(plan, PLAN_FIELDS)
    data["rate_limit"] = str(plan.rate_limit)
    return data


def plan_create(*, actor: User | None, data: PlanInput, via: str = "portal") -> UsagePlan:
    """Create a usage plan and sync it to the gateway after commit.

    Raises AccessDenied unless `actor` manages partners; ValidationError on values AWS would
    refuse (unknown stages, bad period or offset, out-of-range rates).
    """
    _require(actor)
    values = _plan_values(data, plan=None, gateway=get_gateway())
    with transaction.atomic():
        plan = UsagePlan.objects.create(**values, created_by=actor)
        audit_record(actor=actor, record=_plan_audit(plan, "usage_plan.create", None), via=via)
        plan_id = plan.pk
        _after_commit(lambda: plan_sync(plan_id=plan_id))
    return plan


def plan_update(*, actor: User | None, plan: UsagePlan, data: PlanInput, via: str = "portal") -> UsagePlan:
    """Change a usage plan; the gateway gets every change in one batched update after commit.

    Raises AccessDenied unless `actor` manages partners; ValidationError on bad values or when
    the plan was deleted.
    """
    _require(actor)
    if plan.deleted_at is not None:
        raise ValidationError({"name": "This plan was deleted."})
    values = _plan_values(data, plan=plan, gateway=get_gateway())
    before = _plan_snapshot(plan)
    for attr, value in values.items():
        setattr(plan, attr, value)
    if _plan_snapshot(plan) == before:
        return plan
    with transaction.atomic():
        plan.sync_state = SyncState.PENDING
        plan.save()
        audit_record(actor=actor, record=_plan_audit(plan, "usage_plan.update", before), via=via)
        plan_id = plan.pk
        _after_commit(lambda: plan_sync(plan_id=plan_id))
        _after_commit(_forget_keys)
    return plan


def plan_delete(*, actor: User | None, plan: UsagePlan, via: str = "portal") -> UsagePlan:
    """Delete a usage plan that no usable key is on; the gateway deletes its copy after commit.

    Raises AccessDenied unless `actor` manages partners; ValidationError while active or
    suspended keys use the plan.
    """
    _require(actor)
    if plan.deleted_at is not None:
        return plan
    in_use = plan.keys.exclude(status__in=FINAL_STATUSES).count()
    if in_use:
        raise ValidationError(
            {"plan": f"{in_use} active or suspended key(s) use this plan: revoke them or rotate them first."}
        )
    with transaction.atomic():
        before = _plan_snapshot(plan)
        plan.deleted_at = timezone.now()
        plan.sync_state = SyncState.PENDING
        plan.save(update_fields=["deleted_at", "sync_state", "updated_at"])
        audit_record(
            actor=actor,
            record=AuditRecord(
                action="usage_plan.delete",
                object_type="usage_plan",
                object_id=str(plan.pk),
                object_repr=plan.name,
                before=before,
                after={"deleted_at": plan.deleted_at.isoformat()},
            ),
            via=via,
        )
        plan_id = plan.pk
        _after_commit(lambda: plan_sync(plan_id=plan_id))
    return plan
