"""Who may see which event (from the kinds registry), who manages webhooks, and the built-in
channels: one place for both the services (who receives) and the selectors (what the preference
page shows)."""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from accounts.access import Action, can, grants_for
from markets.models import Market
from portal.notifications.kinds import KINDS, spec
from portal.notifications.models import Channel

# Webhook endpoints and role defaults are managed by admins only.
WEBHOOK_ACTION = Action.MANAGE_USERS
# The channels when neither the user nor an admin's role default says otherwise.
BUILT_IN: dict[str, bool] = {Channel.INBOX: True, Channel.EMAIL: False, Channel.DIGEST: False}


def may_see(user: Any, *, kind: str, market: Market | None) -> bool:
    """Return whether `user` may see an event of `kind` (in `market`): its registry audience."""
    entry = spec(kind)
    if market is None and entry.audience_without_market is not None:
        return can(user, entry.audience_without_market)
    return can(user, entry.audience, market)


def built_in(kind: str, channel: str) -> bool:
    """Return a channel's setting for `kind` when neither the user nor a role default says otherwise."""
    return False if spec(kind).opt_in else BUILT_IN[channel]


def role_defaults_apply(kind: str) -> bool:
    """Return whether admins' role defaults may switch `kind` on (not for opt-in kinds)."""
    return not spec(kind).opt_in


def visible(user: Any, *, prefix: str = "") -> Q:
    """Return a filter of the notifications `user` may see now (`prefix`: the path to the
    notification, e.g. "notification__"): the same rule as `may_see`, for a queryset, so that a
    user who lost a market or a role no longer sees what they were told before."""
    grants = grants_for(user)
    shown = Q(pk__in=[])
    for kind, entry in KINDS.items():
        if entry.audience in grants.everywhere:
            shown |= Q(**{f"{prefix}kind": kind, f"{prefix}market__isnull": False})
        else:
            ids = grants.market_ids(entry.audience)
            if ids:
                shown |= Q(**{f"{prefix}kind": kind, f"{prefix}market_id__in": sorted(ids)})
        if grants.allows(entry.audience_without_market or entry.audience, None):
            shown |= Q(**{f"{prefix}kind": kind, f"{prefix}market__isnull": True})
    return shown
