"""Who may see which event, who manages webhooks, and the built-in channels: one place for both
the services (who receives) and the selectors (what the preference page shows)."""

from __future__ import annotations

from typing import Any

from accounts.access import Action, can
from markets.models import Market
from portal.notifications.models import Channel, EventKind

# Webhook endpoints and role defaults are managed by admins only.
WEBHOOK_ACTION = Action.MANAGE_USERS
# Who may see each kind of event (market-scoped where the event names a market).
KIND_ACTION: dict[str, Action] = {
    EventKind.QUOTA: Action.MANAGE_PARTNERS,
    EventKind.KEY_EXPIRING: Action.MANAGE_PARTNERS,
    EventKind.KEY_EXPIRED: Action.MANAGE_PARTNERS,
    EventKind.GATEWAY_SYNC: Action.MANAGE_PARTNERS,
    EventKind.TRAFFIC_THROTTLED: Action.MANAGE_PARTNERS,
    EventKind.TRAFFIC_BURST: Action.MANAGE_PARTNERS,
    EventKind.TRAFFIC_JUMP: Action.MANAGE_PARTNERS,
    EventKind.OUTBOX_BACKLOG: Action.MANAGE_MARKETS,
    EventKind.LABEL_QUEUE: Action.REVIEW_LABELS,
    EventKind.LABEL_JOBS: Action.REVIEW_LABELS,
    # Market-scoped: the people who may see the market (its editors and managers, admins).
    EventKind.WINDOW_ENDING: Action.VIEW_MARKET,
    # Change requests: sent to named people (reviewers, the author), and only if they see the market.
    EventKind.REQUEST_SUBMITTED: Action.VIEW_MARKET,
    EventKind.REQUEST_APPROVED: Action.VIEW_MARKET,
    EventKind.REQUEST_REJECTED: Action.VIEW_MARKET,
    EventKind.REQUEST_APPLIED: Action.VIEW_MARKET,
    EventKind.REQUEST_FAILED: Action.VIEW_MARKET,
}
# The channels when neither the user nor an admin's role default says otherwise.
BUILT_IN: dict[str, bool] = {Channel.INBOX: True, Channel.EMAIL: False, Channel.DIGEST: False}


def may_see(user: Any, *, kind: str, market: Market | None) -> bool:
    """Return whether `user` may see an event of `kind` (in `market`)."""
    if kind == EventKind.DEAD_LETTERS:
        # A market's dead letters are its people's business (editors, managers, admins); the
        # others (content, images) are the publishing page's, which admins see.
        if market is not None:
            return can(user, Action.VIEW_MARKET, market)
        return can(user, Action.MANAGE_MARKETS)
    return can(user, KIND_ACTION[kind], market)
