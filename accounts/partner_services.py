"""Writes for partners, usage plans and partner API keys, and their sync to the gateway.

Each change checks access first, then writes the row, its audit entry and a "sync pending" state
in one transaction; the gateway calls run after commit (`transaction.on_commit`), with retries and
backoff, and record "synced" or "failed" with the error. The pending state is the durable record
(the partner area's outbox): `manage.py gateway reconcile --repair` retries what is left.

A key's secret exists only in the `IssuedKey` a service returns and in the closure that creates
the key on the gateway right after commit; the database keeps its SHA-256 hash.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.access import Action, require
from accounts.gateway import Gateway, GatewayError, get_gateway
from accounts.gateway.base import Drift, KeySpec, MethodThrottle, PlanSpec
from accounts.gateway.quota import offset_error, period_bounds
from accounts.models import User
from accounts.partner_models import (
    FINAL_STATUSES,
    KeyStatus,
    KeyUsage,
    Partner,
    PartnerApiKey,
    QuotaPeriod,
    QuotaTopUp,
    SyncState,
    UsagePlan,
)
from accounts.tokens import hash_secret, new_secret
from portal.audit import AuditRecord, audit_bulk, audit_record, snapshot
from portal.observability import metrics

logger = logging.getLogger(__name__)

KEY_PREFIX = "mpk_"
# The first characters shown to tell keys apart: the scheme prefix plus six random characters.
SHOWN_PREFIX_LENGTH = len(KEY_PREFIX) + 6
# API Gateway's defaults for an account's throttle in a region (raisable, but a plan above them
# would never be honoured as written).
MAX_RATE = Decimal(10_000)
MAX_BURST = 5_000
MAX_QUOTA = 2_147_483_647
MAX_KEYS_PER_REGION = 10_000
MAX_GRACE = timedelta(days=30)
MAX_TOP_UP = 100_000_000
STAGE_RE = re.compile(r"^[A-Za-z0-9]+:[A-Za-z0-9_-]{1,128}$")
METHOD_PATH_RE = re.compile(r"^/\S*/(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS|\*)$")

PARTNER_FIELDS = ("name", "contact_name", "contact_email", "notes", "active")
PLAN_FIELDS = (
    "name",
    "description",
    "rate_limit",
    "burst_limit",
    "quota_limit",
    "quota_period",
    "quota_offset",
    "api_stages",
    "method_throttles",
)
KEY_FIELDS = ("name", "partner", "plan", "prefix", "last_four", "status", "expires_at")

T = TypeVar("T")


@dataclass(frozen=True)
class IssuedKey:
    """A key just issued (or re-issued) and its secret, which exists only in this object."""

    key: PartnerApiKey
    secret: str

    def __repr__(self) -> str:  # never let a debug print or a traceback show the secret
        return f"IssuedKey(key={self.key.pk}, secret=<hidden>)"


@dataclass(frozen=True)
class PlanInput:
    """What a usage plan is made of, as the editor or the API gives it."""

    name: str
    rate_limit: Decimal | float | int | str
    burst_limit: int
    quota_limit: int | None = None
    quota_period: str = ""
    quota_offset: int = 0
    api_stages: Sequence[str] = ()
    method_throttles: Sequence[MethodThrottle] = ()
    description: str = ""


@dataclass
class ReconcileReport:
    """What reconcile found, and what it repaired."""

    drifts: list[Drift] = field(default_factory=list)
    repaired: list[Drift] = field(default_factory=list)
    failed: list[tuple[Drift, str]] = field(default_factory=list)


def _require(actor: User | None) -> None:
    if actor is not None:
        require(actor, Action.MANAGE_PARTNERS)


def _after_commit(func: Callable[[], Any]) -> None:
    transaction.on_commit(func)


def _forget_keys(*key_hashes: str) -> None:
    # Imported on use: enforcement loads `limits` and its storage client.
    from accounts.enforcement import forget_keys

    forget_keys(*key_hashes)


# --- partners ------------------------------------------------------------------------------------
def _partner_clean(partner: Partner) -> None:
    errors: dict[str, str] = {}
    partner.name = partner.name.strip()
    if not partner.name:
        errors["name"] = "Give the partner a name, e.g. 'Optus'."
    elif Partner.objects.filter(name__iexact=partner.name).exclude(pk=partner.pk).exists():
        errors["name"] = f"There is already a partner named {partner.name!r}."
    if partner.contact_email:
        try:
            validate_email(partner.contact_email)
        except ValidationError:
            errors["contact_email"] = "Enter a valid email address."
    if errors:
        raise ValidationError(errors)


def _partner_audit(partner: Partner, action: str, before: dict[str, Any] | None) -> AuditRecord:
    return AuditRecord(
        action=action,
        object_type="partner",
        object_id=str(partner.pk),
        object_repr=partner.name,
        before=before,
        after=snapshot(partner, PARTNER_FIELDS),
    )


def partner_create(
    *,
    actor: User | None,
    name: str,
    contact_name: str = "",
    contact_email: str = "",
    notes: str = "",
    active: bool = True,
    via: str = "portal",
) -> Partner:
    """Create a partner. Raises AccessDenied unless `actor` manages partners; ValidationError."""
    _require(actor)
    partner = Partner(
        name=name,
        contact_name=contact_name.strip(),
        contact_email=contact_email.strip(),
        notes=notes,
        active=active,
    )
    _partner_clean(partner)
    with transaction.atomic():
        partner.save()
        audit_record(actor=actor, record=_partner_audit(partner, "partner.create", None), via=via)
    return partner


def partner_update(
    *,
    actor: User | None,
    partner: Partner,
    name: str | None = None,
    contact_name: str | None = None,
    contact_email: str | None = None,
    notes: str | None = None,
    active: bool | None = None,
    via: str = "portal",
) -> Partner:
    """Change a partner (only the arguments given); an inactive partner's keys stop working.

    Raises AccessDenied unless `actor` manages partners; ValidationError on bad values.
    """
    _require(actor)
    before = snapshot(partner, PARTNER_FIELDS)
    changes = {
        "name": name,
        "contact_name": contact_name.strip() if contact_name is not None else None,
        "contact_email": contact_email.strip() if contact_email is not None else None,
        "notes": notes,
        "active": active,
    }
    for attr, value in changes.items():
        if value is not None:
            setattr(partner, attr, value)
    _partner_clean(partner)
    after = snapshot(partner, PARTNER_FIELDS)
    if after == before:
        return partner
    with transaction.atomic():
        partner.save()
        audit_record(actor=actor, record=_partner_audit(partner, "partner.update", before), via=via)
        _after_commit(_forget_keys)
        if before["active"] != partner.active:
            # The gateway enables or disables the partner's keys with it.
            live = list(partner.keys.exclude(status__in=FINAL_STATUSES))
            PartnerApiKey.objects.filter(pk__in=[k.pk for k in live]).update(sync_state=SyncState.PENDING)
            for key in live:
                _schedule_key_sync(key)
    return partner


# --- usage plans -----------------------------------------------------------------------------------
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


# --- sync machinery ------------------------------------------------------------------------------
def _retrying(call: Callable[[], T]) -> T:
    """Run `call`, retrying retryable gateway errors with exponential backoff and jitter."""
    attempts = max(1, int(getattr(settings, "PARTNER_SYNC_ATTEMPTS", 3)))
    backoff = float(getattr(settings, "PARTNER_SYNC_BACKOFF", 0.5))
    for attempt in range(attempts):
        try:
            return call()
        except GatewayError as exc:
            if not exc.retryable or attempt == attempts - 1:
                raise
            time.sleep(backoff * (2**attempt) * (1 + random.random() / 4))
    raise AssertionError("unreachable")


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
            _retrying(lambda: gateway.plan_delete(plan_spec(plan)))
            gateway_id = ""
        else:
            gateway_id = _retrying(lambda: gateway.plan_put(plan_spec(plan)))
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
        gateway_id = _retrying(lambda: gateway.key_put(key_spec(key), secret))
        if gateway_id:
            key.gateway_id = gateway_id
        if key.carry_over_pending and key.status not in FINAL_STATUSES:
            _retrying(lambda: _carry_over(gateway, key))
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


# --- keys ----------------------------------------------------------------------------------------
def _key_audit(key: PartnerApiKey, action: str, before: dict[str, Any] | None, **extra: Any) -> AuditRecord:
    after = snapshot(key, KEY_FIELDS)
    after.update(extra)
    return AuditRecord(
        action=action,
        object_type="partner_api_key",
        object_id=str(key.pk),
        object_repr=f"{key.partner.name} / {key.name} ({key.display})",
        before=before,
        after=after,
    )


def _new_secret_fields() -> tuple[str, dict[str, str]]:
    secret = new_secret(KEY_PREFIX)
    return secret, {
        "prefix": secret[:SHOWN_PREFIX_LENGTH],
        "last_four": secret[-4:],
        "key_hash": hash_secret(secret),
    }


def _check_key_room() -> None:
    live = PartnerApiKey.objects.exclude(status__in=FINAL_STATUSES).count()
    if live >= MAX_KEYS_PER_REGION:
        raise ValidationError(
            {
                "name": f"API Gateway allows {MAX_KEYS_PER_REGION:,} keys per region (not raisable): "
                "revoke unused keys."
            }
        )


def _schedule_key_sync(key: PartnerApiKey, secret: str | None = None) -> None:
    key_id = key.pk
    key_hash = key.key_hash
    _after_commit(lambda: key_sync(key_id=key_id, secret=secret))
    _after_commit(lambda: _forget_keys(key_hash))


def key_issue(
    *,
    actor: User | None,
    partner: Partner,
    plan: UsagePlan,
    name: str,
    expires_at: datetime | None = None,
    via: str = "portal",
) -> IssuedKey:
    """Issue a key for `partner` on `plan`; the returned secret is shown once and never stored.

    Raises AccessDenied unless `actor` manages partners; ValidationError on an empty name, an
    inactive partner, a deleted plan, a past expiry or a full region.
    """
    _require(actor)
    name = name.strip()
    errors: dict[str, str] = {}
    if not name:
        errors["name"] = "Name the key after the app that uses it, e.g. 'Optus TV app'."
    elif len(name) > 120:
        errors["name"] = "Keep the name within 120 characters."
    if not partner.active:
        errors["partner"] = f"{partner.name} is inactive: activate the partner first."
    if plan.deleted_at is not None:
        errors["plan"] = "This plan was deleted."
    if expires_at is not None and expires_at <= timezone.now():
        errors["expires_at"] = "The expiry must be in the future."
    if errors:
        raise ValidationError(errors)
    _check_key_room()
    secret, fields = _new_secret_fields()
    with transaction.atomic():
        key = PartnerApiKey.objects.create(
            partner=partner, plan=plan, name=name, expires_at=expires_at, created_by=actor, **fields
        )
        audit_record(actor=actor, record=_key_audit(key, "partner_key.issue", None), via=via)
        _schedule_key_sync(key, secret)
    return IssuedKey(key=key, secret=secret)


def _lock_key(key: PartnerApiKey) -> PartnerApiKey:
    return (
        PartnerApiKey.objects.select_related("partner", "plan").select_for_update(of=("self",)).get(pk=key.pk)
    )


def _set_status(
    *, actor: User | None, key: PartnerApiKey, status: str, allowed_from: set[str], action: str, via: str
) -> PartnerApiKey:
    with transaction.atomic():
        locked = _lock_key(key)
        if locked.status == status:
            return locked
        if locked.status not in allowed_from:
            raise ValidationError(
                {"status": f"A {locked.get_status_display().lower()} key cannot be {action}."}
            )
        before = snapshot(locked, KEY_FIELDS)
        locked.status = status
        locked.status_changed_at = timezone.now()
        locked.sync_state = SyncState.PENDING
        locked.save(update_fields=["status", "status_changed_at", "sync_state", "updated_at"])
        audit_record(actor=actor, record=_key_audit(locked, f"partner_key.{action}", before), via=via)
        _schedule_key_sync(locked)
    return locked


def key_suspend(*, actor: User | None, key: PartnerApiKey, via: str = "portal") -> PartnerApiKey:
    """Stop a key working until resumed. Raises AccessDenied; ValidationError for a final key."""
    _require(actor)
    return _set_status(
        actor=actor,
        key=key,
        status=KeyStatus.SUSPENDED,
        allowed_from={KeyStatus.ACTIVE},
        action="suspended",
        via=via,
    )


def key_resume(*, actor: User | None, key: PartnerApiKey, via: str = "portal") -> PartnerApiKey:
    """Let a suspended key work again. Raises AccessDenied; ValidationError unless suspended or
    when it is past its expiry."""
    _require(actor)
    if key.expires_at is not None and key.expires_at <= timezone.now():
        raise ValidationError({"status": "This key is past its expiry: issue a new one."})
    return _set_status(
        actor=actor,
        key=key,
        status=KeyStatus.ACTIVE,
        allowed_from={KeyStatus.SUSPENDED},
        action="resumed",
        via=via,
    )


def key_revoke(*, actor: User | None, key: PartnerApiKey, via: str = "portal") -> PartnerApiKey:
    """Revoke a key for good (the gateway deletes it); revoking twice is harmless.

    Raises AccessDenied unless `actor` manages partners; ValidationError for an expired key.
    """
    _require(actor)
    return _set_status(
        actor=actor,
        key=key,
        status=KeyStatus.REVOKED,
        allowed_from={KeyStatus.ACTIVE, KeyStatus.SUSPENDED},
        action="revoked",
        via=via,
    )


def key_rotate(*, actor: User | None, key: PartnerApiKey, grace: timedelta, via: str = "portal") -> IssuedKey:
    """Replace `key` with a new key on the same plan that inherits its remaining quota; the old
    key keeps working for `grace`, then expires.

    Raises AccessDenied unless `actor` manages partners; ValidationError for a revoked, expired
    or already rotated key, or a grace outside 0-30 days.
    """
    _require(actor)
    if grace < timedelta(0) or grace > MAX_GRACE:
        raise ValidationError({"grace": "Choose a grace period between none and 30 days."})
    _check_key_room()
    secret, fields = _new_secret_fields()
    now = timezone.now()
    with transaction.atomic():
        old = _lock_key(key)
        if old.status in FINAL_STATUSES:
            raise ValidationError({"status": f"A {old.get_status_display().lower()} key cannot be rotated."})
        if PartnerApiKey.objects.filter(replaces=old).exists():
            raise ValidationError({"status": "This key was already rotated; rotate its successor instead."})
        if old.plan.deleted_at is not None:
            raise ValidationError({"plan": "The key's plan was deleted."})
        new = PartnerApiKey.objects.create(
            partner=old.partner,
            plan=old.plan,
            name=old.name,
            expires_at=old.expires_at,
            created_by=actor,
            replaces=old,
            carry_over_pending=True,
            **fields,
        )
        before = snapshot(old, KEY_FIELDS)
        grace_end = now + grace
        if old.expires_at is None or old.expires_at > grace_end:
            old.expires_at = grace_end
        if grace == timedelta(0):
            old.status = KeyStatus.EXPIRED
            old.status_changed_at = now
        old.sync_state = SyncState.PENDING
        old.save(update_fields=["expires_at", "status", "status_changed_at", "sync_state", "updated_at"])
        audit_record(
            actor=actor,
            record=_key_audit(new, "partner_key.issue", None, replaces=str(old.pk)),
            via=via,
        )
        audit_record(
            actor=actor,
            record=_key_audit(
                old,
                "partner_key.rotate",
                before,
                replaced_by=str(new.pk),
                grace_seconds=int(grace.total_seconds()),
            ),
            via=via,
        )
        # The new key first: its carry-over reads the old key's remaining quota.
        _schedule_key_sync(new, secret)
        _schedule_key_sync(old)
    return IssuedKey(key=new, secret=secret)


def keys_expire(*, now: datetime | None = None, via: str = "command") -> int:
    """Expire every usable key whose `expires_at` has passed (the scheduled job); return how many."""
    now = now or timezone.now()
    with transaction.atomic():
        due = list(
            PartnerApiKey.objects.select_related("partner", "plan")
            .select_for_update(of=("self",))
            .filter(status__in=[KeyStatus.ACTIVE, KeyStatus.SUSPENDED], expires_at__lte=now)
        )
        if not due:
            return 0
        records = []
        for key in due:
            before = snapshot(key, KEY_FIELDS)
            key.status = KeyStatus.EXPIRED
            key.status_changed_at = now
            key.sync_state = SyncState.PENDING
            # bulk_update does not apply auto_now.
            key.updated_at = timezone.now()
            records.append(_key_audit(key, "partner_key.expire", before))
        PartnerApiKey.objects.bulk_update(due, ["status", "status_changed_at", "sync_state", "updated_at"])
        audit_bulk(actor=None, records=records, via=via)
        for key in due:
            _schedule_key_sync(key)
    return len(due)


def key_top_up(
    *, actor: User | None, key: PartnerApiKey, amount: int, reason: str, via: str = "portal"
) -> QuotaTopUp:
    """Grant `key` `amount` more requests in its current quota period, with a recorded reason.

    Raises AccessDenied unless `actor` manages partners; ValidationError for a key that cannot
    use quota, a plan without a quota, a non-positive amount or an empty reason.
    """
    _require(actor)
    errors: dict[str, str] = {}
    reason = reason.strip()
    if key.is_final:
        errors["amount"] = f"A {key.get_status_display().lower()} key cannot be topped up."
    elif not key.plan.has_quota:
        errors["amount"] = "The key's plan has no quota to top up."
    if amount < 1 or amount > MAX_TOP_UP:
        errors["amount"] = f"Top up by 1 to {MAX_TOP_UP:,} requests."
    if not reason:
        errors["reason"] = "Say why, e.g. 'launch weekend, agreed with Optus'."
    elif len(reason) > 300:
        errors["reason"] = "Keep the reason within 300 characters."
    if errors:
        raise ValidationError(errors)
    start, _ = period_bounds(key.plan.quota_period, key.plan.quota_offset, timezone.now())
    with transaction.atomic():
        top_up = QuotaTopUp.objects.create(
            key=key, amount=amount, reason=reason, period_start=start, created_by=actor
        )
        audit_record(
            actor=actor,
            record=_key_audit(
                key, "partner_key.top_up", None, amount=amount, reason=reason, period_start=start.isoformat()
            ),
            via=via,
        )
        top_up_id = top_up.pk
        _after_commit(lambda: top_up_sync(top_up_id=top_up_id))
    return top_up


def key_retry_sync(*, actor: User | None, key: PartnerApiKey, via: str = "portal") -> IssuedKey | None:
    """Retry a key's failed or pending sync. A key that never reached the gateway gets a new
    secret (the old one was never usable there) and the returned IssuedKey shows it once.

    Raises AccessDenied unless `actor` manages partners.
    """
    _require(actor)
    gateway = get_gateway()
    if gateway.name == "local" or key.gateway_id or key.is_final:
        key_sync(key_id=key.pk)
        return None
    secret, fields = _new_secret_fields()
    old_hash = key.key_hash
    with transaction.atomic():
        locked = _lock_key(key)
        for attr, value in fields.items():
            setattr(locked, attr, value)
        locked.sync_state = SyncState.PENDING
        locked.save(update_fields=[*fields, "sync_state", "updated_at"])
        audit_record(actor=actor, record=_key_audit(locked, "partner_key.reissue", None), via=via)
        _schedule_key_sync(locked, secret)
        _after_commit(lambda: _forget_keys(old_hash))
    return IssuedKey(key=locked, secret=secret)


def plan_retry_sync(*, actor: User | None, plan: UsagePlan) -> str:
    """Retry a plan's sync now; return the resulting state. Raises AccessDenied."""
    _require(actor)
    return plan_sync(plan_id=plan.pk)


def top_up_retry_sync(*, actor: User | None, top_up: QuotaTopUp) -> str:
    """Retry a top-up that failed to reach the gateway; return the resulting state. Raises AccessDenied."""
    _require(actor)
    return top_up_sync(top_up_id=top_up.pk)


# --- usage -------------------------------------------------------------------------------------
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
        usage = _retrying(
            lambda plan=plan, plan_keys=plan_keys: gateway.usage(  # type: ignore[misc]
                plan=plan_spec(plan), keys=[key_spec(k) for k in plan_keys], start=start, end=end
            )
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


# --- reconcile ---------------------------------------------------------------------------------
def _drifts(gateway: Gateway) -> list[Drift]:
    from accounts.gateway.apigateway import plan_patch_operations

    plans = list(UsagePlan.objects.all())
    keys = list(PartnerApiKey.objects.select_related("plan", "partner"))
    inventory = gateway.inventory()
    drifts: list[Drift] = []
    if inventory is None:
        for plan in plans:
            if plan.sync_state != SyncState.SYNCED:
                drifts.append(Drift("plan", plan.pk, "", f"sync {plan.sync_state}"))
        for key in keys:
            if key.sync_state != SyncState.SYNCED:
                drifts.append(Drift("key", key.pk, "", f"sync {key.sync_state}"))
        return drifts
    known_plans = {p.gateway_id for p in plans if p.gateway_id}
    for plan in plans:
        if plan.deleted_at is not None:
            if plan.gateway_id in inventory.plans:
                drifts.append(
                    Drift("plan", plan.pk, plan.gateway_id, "deleted in Meridian, still on the gateway")
                )
        elif not plan.gateway_id or plan.gateway_id not in inventory.plans:
            drifts.append(Drift("plan", plan.pk, plan.gateway_id, "missing on the gateway"))
        else:
            ops = plan_patch_operations(dict(inventory.plans[plan.gateway_id]), plan_spec(plan))
            if ops:
                paths = ", ".join(sorted({op["path"] for op in ops}))
                drifts.append(Drift("plan", plan.pk, plan.gateway_id, f"differs at {paths}"))
    for gateway_id in sorted(set(inventory.plans) - known_plans):
        drifts.append(Drift("plan", None, gateway_id, "on the gateway, unknown to Meridian"))
    known_keys = {k.gateway_id for k in keys if k.gateway_id}
    for key in keys:
        if key.is_final:
            if key.gateway_id and key.gateway_id in inventory.keys:
                drifts.append(
                    Drift("key", key.pk, key.gateway_id, f"{key.status} in Meridian, still on the gateway")
                )
            continue
        if not key.gateway_id:
            drifts.append(
                Drift(
                    "key", key.pk, "", "never reached the gateway: retry it from the portal", repairable=False
                )
            )
            continue
        current = inventory.keys.get(key.gateway_id)
        if current is None:
            drifts.append(
                Drift(
                    "key",
                    key.pk,
                    key.gateway_id,
                    "deleted on the gateway: revoke it and issue a new key",
                    repairable=False,
                )
            )
            continue
        spec = key_spec(key)
        problems = []
        if bool(current.get("enabled")) != spec.enabled:
            problems.append("enabled" if current.get("enabled") else "disabled")
        if (current.get("name") or "") != spec.name:
            problems.append("name differs")
        if key.gateway_id not in inventory.plan_keys.get(key.plan.gateway_id, set()):
            problems.append("not on its plan")
        if problems:
            drifts.append(Drift("key", key.pk, key.gateway_id, "; ".join(problems)))
    for gateway_id in sorted(set(inventory.keys) - known_keys):
        drifts.append(Drift("key", None, gateway_id, "on the gateway, unknown to Meridian"))
    return drifts


def _orphan_plan(gateway_id: str) -> PlanSpec:
    return PlanSpec(
        pk=0,
        gateway_id=gateway_id,
        name="",
        description="",
        rate=0,
        burst=0,
        quota_limit=None,
        quota_period="",
        quota_offset=0,
        stages=(),
    )


def _orphan_key(gateway_id: str) -> KeySpec:
    return KeySpec(
        pk=0,
        gateway_id=gateway_id,
        name="",
        description="",
        enabled=False,
        present=False,
        plan_gateway_id="",
        plan_pk=0,
    )


def gateway_reconcile(*, repair: bool = False) -> ReconcileReport:
    """Compare Meridian's plans and keys with the gateway; with `repair`, make the gateway match
    (objects Meridian tagged but no longer knows are deleted). Raises GatewayError when the
    gateway cannot be listed."""
    gateway = get_gateway()
    report = ReconcileReport(drifts=_drifts(gateway))
    if not repair:
        return report
    for drift in report.drifts:
        if not drift.repairable:
            if drift.kind == "key" and drift.pk is not None:
                PartnerApiKey.objects.filter(pk=drift.pk).update(
                    sync_state=SyncState.FAILED, sync_error=drift.problem
                )
            continue
        state: str
        try:
            if drift.pk is None and drift.kind == "plan":
                _retrying(lambda drift=drift: gateway.plan_delete(_orphan_plan(drift.gateway_id)))  # type: ignore[misc]
                state = SyncState.SYNCED
            elif drift.pk is None:
                _retrying(lambda drift=drift: gateway.key_delete(_orphan_key(drift.gateway_id)))  # type: ignore[misc]
                state = SyncState.SYNCED
            elif drift.kind == "plan":
                state = plan_sync(plan_id=drift.pk)
            else:
                state = key_sync(key_id=drift.pk)
        except GatewayError as exc:
            report.failed.append((drift, str(exc)))
            continue
        if state == SyncState.SYNCED:
            report.repaired.append(drift)
        else:
            report.failed.append((drift, f"sync {state}"))
    # Objects whose last sync failed or never ran, though the gateway already matches them.
    handled = {(d.kind, d.pk) for d in report.drifts}
    for plan_id in UsagePlan.objects.exclude(sync_state=SyncState.SYNCED).values_list("pk", flat=True):
        if ("plan", plan_id) not in handled:
            plan_sync(plan_id=plan_id)
    for key_id in PartnerApiKey.objects.exclude(sync_state=SyncState.SYNCED).values_list("pk", flat=True):
        if ("key", key_id) not in handled:
            key_sync(key_id=key_id)
    return report
