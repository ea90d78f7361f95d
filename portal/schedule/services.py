"""Calendar feed tokens: create (the secret is shown once), revoke, and authenticate a feed.

Stored hashed, like API tokens (accounts/tokens.py): a leaked database does not leak feeds.
One active link per user: making a new one revokes the old, so "I pasted it somewhere" is
fixed with one click.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from accounts.access import Action, can, require
from accounts.models import User
from accounts.tokens import hash_secret, new_secret
from portal.audit.services import AuditRecord, audit_record
from portal.schedule.models import CalendarFeedToken

FEED_PREFIX = "mcal_"


@dataclass(frozen=True)
class IssuedFeed:
    token: CalendarFeedToken
    secret: str


def _audit(token: CalendarFeedToken, action: str) -> AuditRecord:
    return AuditRecord(
        action=action,
        object_type="calendar_feed",
        object_id=str(token.pk),
        object_repr=f"{token.user.get_username()} / {token.prefix}…",
    )


def calendar_feed_create(*, actor: User, via: str = "portal") -> IssuedFeed:
    """Give `actor` a new calendar feed secret (revoking their previous one) and return it.

    Raises AccessDenied unless `actor` may view at least one market.
    """
    require(actor, Action.VIEW_MARKET)
    secret = new_secret(FEED_PREFIX)
    now = timezone.now()
    with transaction.atomic():
        for old in CalendarFeedToken.objects.select_for_update().filter(user=actor, revoked_at__isnull=True):
            old.revoked_at = now
            old.save(update_fields=["revoked_at"])
            audit_record(actor=actor, record=_audit(old, "calendar_feed.revoke"), via=via)
        token = CalendarFeedToken.objects.create(
            user=actor, prefix=secret[: len(FEED_PREFIX) + 6], token_hash=hash_secret(secret)
        )
        audit_record(actor=actor, record=_audit(token, "calendar_feed.create"), via=via)
    return IssuedFeed(token=token, secret=secret)


def calendar_feed_revoke(*, actor: User, token: CalendarFeedToken, via: str = "portal") -> CalendarFeedToken:
    """Revoke `token` at once (twice is harmless).

    Raises AccessDenied unless `actor` owns the token or manages users.
    """
    if actor.pk != token.user_id:
        require(actor, Action.MANAGE_USERS)
    if token.revoked_at is not None:
        return token
    with transaction.atomic():
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_record(actor=actor, record=_audit(token, "calendar_feed.revoke"), via=via)
    return token


def calendar_feed_authenticate(*, secret: str) -> User | None:
    """Return the active user whose live feed secret is `secret` (noting its use), or None."""
    if not secret.startswith(FEED_PREFIX) or len(secret) > 100:
        return None
    token = (
        CalendarFeedToken.objects.select_related("user")
        .filter(token_hash=hash_secret(secret), revoked_at__isnull=True)
        .first()
    )
    if token is None or not token.user.is_active or not can(token.user, Action.VIEW_MARKET):
        return None
    now = timezone.now()
    # Calendar apps poll every few minutes: note the use at most once an hour.
    if token.last_used_at is None or now - token.last_used_at > timedelta(hours=1):
        CalendarFeedToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user
