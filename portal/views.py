"""Portal-wide pages: the dashboard."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.access import Action, grants_for, markets_for


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """The landing page: what the user may work on."""
    markets = list(markets_for(request.user, Action.VIEW_MARKET).order_by("code")[:200])
    return render(
        request,
        "portal/dashboard.html",
        {"markets": markets, "roles": sorted(grants_for(request.user).roles)},
    )
