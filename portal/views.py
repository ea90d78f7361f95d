"""Portal-wide pages: the dashboard, and the answers to 403, 404 and 500 outside `portal_view`."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseServerError, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.utils import timezone
from django.views.decorators.csrf import requires_csrf_token

from accounts.access import Action, can, grants_for, markets_for
from accounts.models import Role
from content.selectors import market_dashboard_counts
from portal.audit.selectors import audit_recent
from portal.change_requests.selectors import my_open_requests, waiting_for_review
from portal.pages import actor_of, forbidden, not_found, portal_view


@portal_view
def dashboard(request: HttpRequest) -> HttpResponse:
    """The landing page: per market the current overrides and rules, and the user's changes."""
    user = actor_of(request)
    grants = grants_for(user)
    sees_all = Action.VIEW_MARKET in grants.everywhere
    markets = list(markets_for(user, Action.VIEW_MARKET).order_by("code"))
    counts = market_dashboard_counts(markets=markets, at=timezone.now(), all_markets=sees_all)
    recent = audit_recent(user=user)
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
        "review_queue": waiting_for_review(user=user, limit=10),
        "my_requests": my_open_requests(user=user, limit=10),
    }
    return render(request, "portal/dashboard.html", context)


def _is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith("/api/")


# --- handler403 / handler404 / handler500 (portal/urls.py) -------------------------------------
# Views wrapped in `portal_view` answer 403 and 404 themselves (even with DEBUG on); these catch
# the rest: unknown URLs, and refusals raised outside a portal view. The API answers JSON.


@requires_csrf_token
def refused(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler403: the portal's styled refusal (JSON under /api/)."""
    if _is_api(request):
        return JsonResponse({"detail": str(exception or "") or "Permission denied."}, status=403)
    return forbidden(request, exception if isinstance(exception, PermissionDenied) else None)


@requires_csrf_token
def missing(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler404: the portal's 404 page (JSON under /api/)."""
    if _is_api(request):
        return JsonResponse({"detail": "Not found."}, status=404)
    return not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: a static page that needs neither the database nor the request's context."""
    if _is_api(request):
        return JsonResponse({"detail": "Server error."}, status=500)
    return HttpResponseServerError(loader.get_template("500.html").render())
