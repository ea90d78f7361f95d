"""The schedule pages (overall and per market) and the calendar feed links page."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.access import Action, require
from markets.models import Market
from markets.selectors import market_get, market_list
from portal.pages import actor_of, page, portal_view
from portal.schedule.forms import ScheduleFilterForm
from portal.schedule.models import CalendarFeedToken
from portal.schedule.selectors import DAYS_AHEAD, schedule_days, schedule_events, upcoming_span
from portal.schedule.services import calendar_feed_create, calendar_feed_revoke

PAGE_SIZE = 100


def _schedule(request: HttpRequest, markets: list[Market], market: Market | None) -> HttpResponse:
    form = ScheduleFilterForm(request.GET, markets=markets, fixed_market=market is not None)
    since, until = upcoming_span()
    chosen = [market] if market is not None else form.chosen_markets()
    events = schedule_events(markets=chosen, since=since, until=until, where=form.schedule_filter())
    paginator = Paginator(events, PAGE_SIZE)
    current = paginator.get_page(request.GET.get("page"))
    params = request.GET.copy()
    params.pop("page", None)
    context: dict[str, Any] = {
        "form": form,
        "market": market,
        "days": schedule_days(current.object_list),
        "page_obj": current,
        "total": paginator.count,
        "query": params.urlencode(),
        "days_ahead": DAYS_AHEAD,
        "since": since,
        "until": until,
    }
    return page(request, "schedule/schedule.html", context, fragment="schedule/_days.html")


@portal_view
@require_GET
def schedule_overview(request: HttpRequest) -> HttpResponse:
    """What starts or ends in the next 30 days in every market the user may view."""
    require(request.user, Action.VIEW_MARKET)
    return _schedule(request, list(market_list(user=request.user)), None)


@portal_view
@require_GET
def schedule_market(request: HttpRequest, code: str) -> HttpResponse:
    """What starts or ends in the next 30 days in one market, by the market's local day."""
    market = market_get(user=request.user, code=code)
    return _schedule(request, [market], market)


@portal_view
@require_http_methods(["GET", "POST"])
def calendar_feeds(request: HttpRequest) -> HttpResponse:
    """The user's calendar feed link: make a new one (shown once, per market) or see the current one."""
    user = actor_of(request)
    require(user, Action.VIEW_MARKET)
    markets = list(market_list(user=user))
    context: dict[str, Any] = {
        "tokens": list(CalendarFeedToken.objects.filter(user=user)[:20]),
        "markets": markets,
    }
    if request.method == "POST":
        issued = calendar_feed_create(actor=user)
        context["tokens"] = list(CalendarFeedToken.objects.filter(user=user)[:20])
        context["feeds"] = [
            (
                m,
                request.build_absolute_uri(
                    reverse("calendar-feed", kwargs={"secret": issued.secret, "code": m.code})
                ),
            )
            for m in markets
        ]
        response = page(request, "schedule/calendar.html", context)
        # The secret is in this page only: no cache may keep it.
        response["Cache-Control"] = "no-store"
        return response
    return page(request, "schedule/calendar.html", context)


@portal_view
@require_POST
def calendar_feed_revoke_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Revoke one of the user's calendar feed links."""
    user = actor_of(request)
    if pk >= 2**63:
        raise Http404("No such calendar link.")
    token = get_object_or_404(CalendarFeedToken, pk=pk, user=user)
    calendar_feed_revoke(actor=user, token=token)
    return redirect("schedule:calendar")
