"""Reads of the audit log: what a user may read, an item's history, filtered searches.

Scope: a user reads the entries of the markets they may view; entries without a market are
content and tag changes (anyone with the audit log) or account-level records (admins only).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet

from accounts.access import Action, can
from content.models import ContentItem
from markets.models import Market, MarketGroup
from portal.audit.models import AuditEntry

# Entries without a market that every reader of the log may see; the rest are admins' only.
SHARED_OBJECT_TYPES = ("content", "tag")


def _scope(user: Any, markets: Iterable[Market]) -> Q | None:
    """Return the entries `user` may read (None = all of them)."""
    if can(user, Action.MANAGE_USERS):
        return None
    markets = list(markets)
    codes = [m.code for m in markets]
    # A group's entries (its rules, positions and settings) are for those who see a member.
    codes += (
        MarketGroup.objects.filter(member_links__market__in=markets).values_list("code", flat=True).distinct()
    )
    return Q(market_code__in=codes) | Q(market_code="", object_type__in=SHARED_OBJECT_TYPES)


def item_history(
    *, user: Any, item: ContentItem, markets: Iterable[Market], limit: int = 50
) -> list[AuditEntry]:
    """Return the audit entries of `item` (its content, tags and positions) that `user` may read."""
    entries = AuditEntry.objects.filter(
        object_type__in=["content", "position", "group_position"], object_id=item.upstream_id
    )
    scope = _scope(user, markets)
    if scope is not None:
        entries = entries.filter(scope)
    return list(entries.order_by("-created_at", "-id")[:limit])


@dataclass(frozen=True)
class AuditFilter:
    """What the audit log is filtered on (empty fields filter nothing)."""

    actor: str = ""
    market: Market | None = None
    object_type: str = ""
    object_id: str = ""
    action: str = ""
    since: datetime | None = None
    until: datetime | None = None
    batches: tuple[str, ...] = ()


def audit_search(*, user: Any, markets: Iterable[Market], where: AuditFilter) -> QuerySet[AuditEntry]:
    """Return the entries `user` may read that match `where`, newest first."""
    entries = AuditEntry.objects.all()
    scope = _scope(user, markets)
    if scope is not None:
        entries = entries.filter(scope)
    if where.actor:
        entries = entries.filter(actor_name__iexact=where.actor)
    if where.market is not None:
        entries = entries.filter(market_code=where.market.code)
    if where.object_type:
        entries = entries.filter(object_type=where.object_type)
    if where.object_id:
        entries = entries.filter(object_id=where.object_id)
    if where.action:
        # "position" finds position.set and position.reset.
        if "." in where.action:
            entries = entries.filter(action=where.action)
        else:
            entries = entries.filter(action__startswith=f"{where.action}.")
    if where.since:
        entries = entries.filter(created_at__gte=where.since)
    if where.until:
        entries = entries.filter(created_at__lt=where.until)
    if where.batches:
        entries = entries.filter(batch__in=where.batches)
    return entries.order_by("-created_at", "-id")


def audit_recent(*, user: Any, limit: int = 10) -> list[AuditEntry]:
    """Return `user`'s own latest changes, newest first."""
    return list(AuditEntry.objects.filter(actor=user).order_by("-created_at", "-id")[:limit])
