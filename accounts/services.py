"""Writes for accounts: memberships and automation tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.access import Action, forget_grants, require
from accounts.models import GLOBAL_ROLES, ApiToken, Membership, MembershipSource, Role, User
from accounts.tokens import hash_secret, new_secret
from markets.models import Market, MarketGroup
from portal.audit.services import AuditRecord, audit_record

TOKEN_PREFIX = "mrd_"


@dataclass(frozen=True)
class IssuedToken:
    """A freshly created token and its secret, which exists only in this object."""

    token: ApiToken
    secret: str


def _token_audit(token: ApiToken, action: str, after: dict[str, object]) -> AuditRecord:
    return AuditRecord(
        action=action,
        object_type="api_token",
        object_id=str(token.pk),
        object_repr=f"{token.user.get_username()} / {token.name}",
        after=after,
    )


def api_token_create(
    *,
    actor: User | None,
    user: User,
    name: str,
    expires_at: datetime | None = None,
    never_expires: bool = False,
    via: str = "portal",
) -> IssuedToken:
    """Create a named token for `user` and return it with its secret (shown once).

    Raises AccessDenied when `actor` is neither `user` nor an admin; ValidationError on a bad
    name, a past expiry or a duplicate name.
    """
    if actor is not None and actor.pk != user.pk:
        require(actor, Action.MANAGE_USERS)
    name = name.strip()
    if not name:
        raise ValidationError({"name": "Give the token a name, e.g. 'ingestion pipeline'."})
    now = timezone.now()
    if expires_at is None and not never_expires:
        expires_at = now + timedelta(days=settings.API_TOKEN_DEFAULT_DAYS)
    if expires_at is not None and expires_at <= now:
        raise ValidationError({"expires_at": "The expiry must be in the future."})
    if ApiToken.objects.filter(user=user, name=name).exists():
        raise ValidationError({"name": f"{user.get_username()} already has a token named {name!r}."})
    secret = new_secret(TOKEN_PREFIX)
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            name=name,
            prefix=secret[: len(TOKEN_PREFIX) + 6],
            token_hash=hash_secret(secret),
            expires_at=expires_at,
        )
        audit_record(
            actor=actor,
            record=_token_audit(
                token,
                "api_token.create",
                {"name": name, "expires_at": expires_at.isoformat() if expires_at else None},
            ),
            via=via,
        )
    return IssuedToken(token=token, secret=secret)


def api_token_revoke(*, actor: User | None, token: ApiToken, via: str = "portal") -> ApiToken:
    """Revoke `token` at once; revoking twice is harmless.

    Raises AccessDenied when `actor` is neither the token's owner nor an admin.
    """
    if actor is not None and actor.pk != token.user_id:
        require(actor, Action.MANAGE_USERS)
    if token.revoked_at is not None:
        return token
    with transaction.atomic():
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_record(
            actor=actor,
            record=_token_audit(token, "api_token.revoke", {"revoked_at": token.revoked_at.isoformat()}),
            via=via,
        )
    return token


def api_token_authenticate(*, secret: str) -> ApiToken | None:
    """Return the active token matching `secret` (and note its use), or None."""
    token = (
        ApiToken.objects.select_related("user")
        .filter(token_hash=hash_secret(secret), revoked_at__isnull=True)
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    if token.expires_at is not None and token.expires_at <= now:
        return None
    # Write last_used_at at most once a minute: a busy pipeline must not write on every call.
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def membership_grant(
    *,
    actor: User | None,
    user: User,
    role: Role,
    market: Market | None = None,
    group: MarketGroup | None = None,
) -> Membership:
    """Give `user` `role` in `market`, or in `group`'s member markets now and later (neither: all
    markets); granting twice is harmless.

    Raises AccessDenied unless `actor` may manage users; ValidationError when a global role
    (admin, reviewer) is given a market or group, or both a market and a group are given.
    """
    if actor is not None:
        require(actor, Action.MANAGE_USERS)
    if role in GLOBAL_ROLES and market is not None:
        raise ValidationError({"market": f"The {role} role applies to all markets."})
    if role in GLOBAL_ROLES and group is not None:
        raise ValidationError({"group": f"The {role} role applies to all markets."})
    if market is not None and group is not None:
        raise ValidationError({"group": "Grant a role in a market or in a group, not both at once."})
    where = group.code if group is not None else (market.code if market else "")
    with transaction.atomic():
        membership, created = Membership.objects.get_or_create(
            user=user, role=role, market=market, group=group
        )
        if not created and membership.source != MembershipSource.MANUAL:
            # Granted by hand too: single sign-on must no longer take it away (docs/sso.md).
            membership.source = MembershipSource.MANUAL
            membership.save(update_fields=["source"])
            created = True
        if created:
            audit_record(
                actor=actor,
                record=AuditRecord(
                    action="membership.grant",
                    object_type="user",
                    object_id=str(user.pk),
                    object_repr=user.get_username(),
                    market_code=where,
                    after={
                        "role": str(role),
                        "market": market.code if market else None,
                        **({"group": group.code} if group is not None else {}),
                    },
                ),
            )
    forget_grants(user)
    return membership
