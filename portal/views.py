"""Portal-wide pages: the dashboard."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from accounts.access import Action, can, grants_for, markets_for
from accounts.models import Role
from content.selectors import market_dashboard_counts
from portal.audit.selectors import audit_recent
from portal.pages import actor_of


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """The landing page: per market the current overrides and rules, and the user's changes."""
    user = request.user
    grants = grants_for(user)
    sees_all = Action.VIEW_MARKET in grants.everywhere
    markets = list(markets_for(user, Action.VIEW_MARKET).order_by("code"))
    counts = market_dashboard_counts(markets=markets, at=timezone.now(), all_markets=sees_all)
    recent = audit_recent(user=actor_of(request))
    publishing = None
    if can(user, Action.MANAGE_MARKETS):
        from portal.shared_tables.selectors import publish_status

        publishing = publish_status()
    labels = None
    if can(user, Action.REVIEW_LABELS):
        from content.labels.selectors import labels_status

        status = labels_status()
        labels = {"pending": status.labels.get("pending", 0), "failed": status.images.get("failed", 0)}
    partner_alerts = None
    if can(user, Action.MANAGE_PARTNERS):
        from accounts.partners.selectors import expiring_keys, quota_alerts

        partner_alerts = {"alerts": quota_alerts(user=user), "expiring": expiring_keys(user=user)}
    context = {
        "labels": labels,
        "partner_alerts": partner_alerts,
        "counts": counts,
        "active_counts": [c for c in counts if c.hidden or c.promoted or c.pinned or c.shown or c.rules],
        "markets_by_code": {m.code: m for m in markets},
        "recent": recent,
        "roles": sorted(Role(r).label for r in grants.roles),
        "publishing": publishing,
        "can_board": can(user, Action.VIEW_CONTENT),
    }
    return render(request, "portal/dashboard.html", context)
