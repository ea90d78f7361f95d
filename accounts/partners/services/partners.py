"""Writes for partners: create and update (suspending a partner suspends its keys on the gateway)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from accounts.models import User
from accounts.partners.models import (
    FINAL_STATUSES,
    Partner,
    PartnerApiKey,
    SyncState,
)
from accounts.partners.services.base import PARTNER_FIELDS, _after_commit, _forget_keys, _require
from accounts.partners.services.keys import _schedule_key_sync
from portal.audit.services import AuditRecord, audit_record, snapshot


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
