"""Writes for single sign-on: group mappings, and the user sync at each SSO login."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.access import Action, forget_grants, require
from accounts.models import GLOBAL_ROLES, Membership, MembershipSource, Role, User
from accounts.sso.models import SsoGroupMapping, SsoIdentity
from accounts.sso.selectors import grants_for_groups
from markets.models import Market
from portal.audit.services import AuditRecord, audit_record

VIA = "sso"


@dataclass(frozen=True)
class SsoLogin:
    """The outcome of one SSO login: the user, and why the login is refused (empty: it is not)."""

    user: User
    refused: str = ""


def _mapping_audit(mapping: SsoGroupMapping, action: str) -> AuditRecord:
    state = {
        "group_name": mapping.group_name,
        "role": str(mapping.role),
        "market": mapping.market.code if mapping.market else None,
    }
    return AuditRecord(
        action=action,
        object_type="sso_mapping",
        object_id=str(mapping.pk),
        object_repr=str(mapping),
        market_code=mapping.market.code if mapping.market else "",
        before=state if action.endswith("delete") else None,
        after=None if action.endswith("delete") else state,
    )


def sso_mapping_create(
    *, actor: User, group_name: str, role: Role | str, market: Market | None = None, via: str = "portal"
) -> SsoGroupMapping:
    """Map a provider group to `role` in `market` (None: all markets).

    Raises AccessDenied unless `actor` may manage users; ValidationError on an empty group name,
    a market given to a global role (admin, reviewer), an unknown role or a duplicate mapping.
    """
    require(actor, Action.MANAGE_USERS)
    group_name = group_name.strip()
    if not group_name:
        raise ValidationError({"group_name": "Name the provider group, e.g. meridian-editors."})
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}."})
    if role in GLOBAL_ROLES and market is not None:
        raise ValidationError({"market": f"The {role} role applies to all markets."})
    if SsoGroupMapping.objects.filter(group_name=group_name, role=role, market=market).exists():
        raise ValidationError({"group_name": f"{group_name} already grants this role there."})
    try:
        with transaction.atomic():
            mapping = SsoGroupMapping.objects.create(
                group_name=group_name, role=role, market=market, created_by=actor
            )
            audit_record(actor=actor, record=_mapping_audit(mapping, "sso_mapping.create"), via=via)
    except IntegrityError as exc:  # a concurrent create of the same mapping
        raise ValidationError({"group_name": f"{group_name} already grants this role there."}) from exc
    return mapping


def sso_mapping_delete(*, actor: User, mapping: SsoGroupMapping, via: str = "portal") -> None:
    """Delete a group mapping; memberships it granted go at each user's next SSO login.

    Raises AccessDenied unless `actor` may manage users.
    """
    require(actor, Action.MANAGE_USERS)
    with transaction.atomic():
        audit_record(actor=actor, record=_mapping_audit(mapping, "sso_mapping.delete"), via=via)
        mapping.delete()


def _groups(claims: dict[str, Any]) -> list[str]:
    value = claims.get(settings.OIDC_GROUPS_CLAIM, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        return []
    return sorted({str(group) for group in value if str(group).strip()})


def _free_username(claims: dict[str, Any]) -> str:
    wanted = str(claims.get("preferred_username") or claims.get("email") or claims["sub"])
    base = re.sub(r"[^\w.@+-]", "-", wanted)[:140] or "sso-user"
    candidate, n = base, 1
    # Never take over an existing account that happens to carry the same name or email.
    while User.objects.filter(username__iexact=candidate).exists():
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def _profile(claims: dict[str, Any]) -> dict[str, str]:
    return {
        "email": str(claims.get("email") or "")[:254],
        "first_name": str(claims.get("given_name") or "")[:150],
        "last_name": str(claims.get("family_name") or "")[:150],
    }


def _membership_record(
    user: User, action: str, role: str, market: Market | None, groups: list[str]
) -> AuditRecord:
    state = {"role": role, "market": market.code if market else None, "source": MembershipSource.SSO.value}
    return AuditRecord(
        action=action,
        object_type="user",
        object_id=str(user.pk),
        object_repr=user.get_username(),
        market_code=market.code if market else "",
        before=state if action.endswith("revoke") else None,
        after={**state, "groups": groups} if action.endswith("grant") else None,
    )


def sso_login_sync(*, issuer: str, claims: dict[str, Any]) -> SsoLogin:
    """Create or update the user behind (issuer, sub) from verified ID token claims, replace
    their SSO memberships with what the groups grant now, and decide whether they may log in.

    Every change is audited (actor: the system, via "sso"). A user whose groups grant nothing and
    who has no manual membership is deactivated; a later login whose groups grant something
    reactivates them, unless they were deactivated by hand in Meridian. Raises KeyError when the
    claims carry no `sub`.
    """
    subject = str(claims["sub"])
    groups = _groups(claims)
    profile = _profile(claims)
    now = timezone.now()
    with transaction.atomic():
        identity = (
            SsoIdentity.objects.select_for_update()
            .select_related("user")
            .filter(issuer=issuer, subject=subject)
            .first()
        )
        if identity is None:
            user = User(username=_free_username(claims), **profile)
            user.set_unusable_password()
            user.save()
            identity = SsoIdentity.objects.create(
                user=user, issuer=issuer, subject=subject, email=profile["email"]
            )
            audit_record(
                actor=None,
                record=AuditRecord(
                    action="sso.user_create",
                    object_type="user",
                    object_id=str(user.pk),
                    object_repr=user.get_username(),
                    after={"issuer": issuer, "sub": subject, **profile},
                ),
                via=VIA,
            )
        else:
            user = identity.user
            before = {name: getattr(user, name) for name in profile}
            if before != profile:
                User.objects.filter(pk=user.pk).update(**profile)
                for name, value in profile.items():
                    setattr(user, name, value)
                audit_record(
                    actor=None,
                    record=AuditRecord(
                        action="sso.user_update",
                        object_type="user",
                        object_id=str(user.pk),
                        object_repr=user.get_username(),
                        before=before,
                        after=profile,
                    ),
                    via=VIA,
                )

        wanted = grants_for_groups(groups)
        held = list(Membership.objects.select_related("market").filter(user=user))
        manual = {(m.role, m.market_id) for m in held if m.source == MembershipSource.MANUAL}
        from_sso = {(m.role, m.market_id): m for m in held if m.source == MembershipSource.SSO}
        for key, membership in from_sso.items():
            if key not in wanted:
                membership.delete()
                audit_record(
                    actor=None,
                    record=_membership_record(
                        user, "membership.revoke", membership.role, membership.market, groups
                    ),
                    via=VIA,
                )
        for (role, market_id), market in wanted.items():
            if (role, market_id) in from_sso or (role, market_id) in manual:
                continue
            Membership.objects.create(user=user, role=role, market=market, source=MembershipSource.SSO)
            audit_record(
                actor=None, record=_membership_record(user, "membership.grant", role, market, groups), via=VIA
            )

        refused = ""
        if not wanted and not manual:
            refused = "None of your groups at the identity provider gives access to Meridian."
            if user.is_active:
                user.is_active = False
                User.objects.filter(pk=user.pk).update(is_active=False)
                identity.deactivated_at = now
                _audit_active(user, active=False, groups=groups)
        elif not user.is_active:
            if identity.deactivated_at is not None:
                user.is_active = True
                User.objects.filter(pk=user.pk).update(is_active=True)
                identity.deactivated_at = None
                _audit_active(user, active=True, groups=groups)
            else:
                refused = "Your Meridian account is deactivated; ask an admin."
        identity.groups = groups
        identity.email = profile["email"]
        identity.last_login_at = now
        identity.save(update_fields=["groups", "email", "last_login_at", "deactivated_at"])
    forget_grants(user)
    return SsoLogin(user=user, refused=refused)


def _audit_active(user: User, *, active: bool, groups: list[str]) -> None:
    audit_record(
        actor=None,
        record=AuditRecord(
            action="sso.user_activate" if active else "sso.user_deactivate",
            object_type="user",
            object_id=str(user.pk),
            object_repr=user.get_username(),
            before={"is_active": not active},
            after={"is_active": active, "groups": groups},
        ),
        via=VIA,
    )


def sso_users_deactivate_stale(*, days: int) -> list[User]:
    """Deactivate SSO users the provider has not confirmed (login or re-check) for `days` days.

    The provider never tells Meridian that someone left; this bounds how long a leaver who never
    signs in again keeps their memberships' access and their API tokens. Each deactivation is
    audited; a later SSO login whose groups grant something reactivates the user. Raises
    ValueError when `days` is below 1.
    """
    if days < 1:
        raise ValueError("days must be at least 1")
    cutoff = timezone.now() - timedelta(days=days)
    done: list[User] = []
    stale = SsoIdentity.objects.filter(user__is_active=True).filter(
        Q(last_login_at__lt=cutoff) | Q(last_login_at__isnull=True, created_at__lt=cutoff)
    )
    for identity_id in stale.values_list("pk", flat=True):
        with transaction.atomic():
            identity = SsoIdentity.objects.select_for_update().select_related("user").get(pk=identity_id)
            user = identity.user
            if not user.is_active:
                continue
            User.objects.filter(pk=user.pk).update(is_active=False)
            user.is_active = False
            identity.deactivated_at = timezone.now()
            identity.save(update_fields=["deactivated_at"])
            audit_record(
                actor=None,
                record=AuditRecord(
                    action="sso.user_deactivate",
                    object_type="user",
                    object_id=str(user.pk),
                    object_repr=user.get_username(),
                    before={"is_active": True},
                    after={
                        "is_active": False,
                        "reason": f"not confirmed by the identity provider for {days} days",
                        "last_login_at": identity.last_login_at.isoformat()
                        if identity.last_login_at
                        else None,
                    },
                ),
                via="command",
            )
        forget_grants(user)
        done.append(user)
    return done
