"""Writes for partner API keys: issue (secret shown once), rotate with grace, suspend, resume,
revoke, expire, top up, and retrying a failed sync."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.partners.gateway import get_gateway
from accounts.partners.gateway.quota import period_bounds
from accounts.partners.models import (
    FINAL_STATUSES,
    KeyStatus,
    Partner,
    PartnerApiKey,
    QuotaTopUp,
    SyncState,
    UsagePlan,
)
from accounts.partners.services.base import (
    KEY_FIELDS,
    KEY_PREFIX,
    MAX_GRACE,
    MAX_KEYS_PER_REGION,
    MAX_TOP_UP,
    SHOWN_PREFIX_LENGTH,
    IssuedKey,
    _after_commit,
    _forget_keys,
    _require,
)
from accounts.partners.services.sync import key_sync, plan_sync, top_up_sync
from accounts.tokens import hash_secret, new_secret
from portal.audit.services import AuditRecord, audit_bulk, audit_record, snapshot


def _a_key(key: PartnerApiKey) -> str:
    """ "An expired key", "A revoked key": the article follows the status's sound."""
    status = key.get_status_display().lower()
    return f"{'An' if status[:1] in 'aeiou' else 'A'} {status} key"


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
            raise ValidationError({"status": f"{_a_key(locked)} cannot be {action}."})
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
            raise ValidationError({"status": f"{_a_key(old)} cannot be rotated."})
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
        errors["amount"] = f"{_a_key(key)} cannot be topped up."
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
