"""The schedule pages (overall, per market and per market group) and the calendar feed links page."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.access import Action, can, require
from markets.groups.selectors import group_get, group_list, group_members_viewable
from markets.models import Market, MarketGroup
from markets.selectors import market_get, market_list
from portal.pages import actor_of, page, portal_view
from portal.schedule.forms import ScheduleFilterForm
from portal.schedule.models import CalendarFeedToken
from portal.schedule.selectors import DAYS_AHEAD, schedule_days, schedule_events, upcoming_span
from portal.schedule.services import calendar_feed_create, calendar_feed_revoke

PAGE_SIZE = 100


def _schedule(
    request: HttpRequest,
    markets: list[Market],
    market: Market | None,
    *,
    group: MarketGroup | None = None,
    extra: dict[str, Any] | None = None,
) -> HttpResponse:
    form = ScheduleFilterForm(request.GET, markets=markets, fixed_market=market is not None, group=group)
    since, until = upcoming_span()
    chosen = [market] if market is not None else form.chosen_markets()
    events = schedule_events(
        markets=chosen, groups=form.chosen_groups(), since=since, until=until, where=form.schedule_filter()
    )
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
        "group": group,
        **(extra or {}),
    }
    return page(request, "schedule/schedule.html", context, fragment="schedule/_days.html")


@portal_view
@require_GET
def schedule_overview(request: HttpRequest) -> HttpResponse:
    """What starts or ends in the next 30 days in every market the user may view."""
    require(request.user, Action.VIEW_MARKET)
    # The groups the user sees, for links to their schedules (one query; members not needed).
    groups = list(group_list(user=request.user).prefetch_related(None).values_list("code", flat=True))
    return _schedule(request, list(market_list(user=request.user)), None, extra={"group_codes": groups})


@portal_view
@require_GET
def schedule_market(request: HttpRequest, code: str) -> HttpResponse:
    """What starts or ends in the next 30 days in one market, by the market's local day."""
    market = market_get(user=request.user, code=code)
    return _schedule(request, [market], market)


@portal_view
@require_GET
def schedule_group(request: HttpRequest, group_code: str) -> HttpResponse:
    """What starts or ends in the next 30 days for a market group: its own windows (group positions
    and group rules, in UTC) and its members' windows (each in the member's local time).

    Whoever sees the group sees its own windows (they apply in every member); members' windows are
    shown for the members the user may view (a DE manager sees DACH's and DE's, not AT's).
    """
    try:
        group = group_get(user=request.user, code=group_code[:64])
    except MarketGroup.DoesNotExist:
        raise Http404(f"There is no group {group_code[:64]}.") from None
    members = [link.market for link in group.member_links.all()]
    shown = group_members_viewable(user=request.user, group=group)
    hidden = [m.code for m in members if m not in shown]
    extra = {"hidden_members": hidden, "can_manage": can(request.user, Action.MANAGE_MARKETS)}
    return _schedule(request, shown, None, group=group, extra=extra)


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
        groups = list(group_list(user=user).prefetch_related(None).values_list("code", flat=True))
        context["group_feeds"] = [
            (
                code,
                request.build_absolute_uri(
                    reverse("calendar-group-feed", kwargs={"secret": issued.secret, "code": code})
                ),
            )
            for code in groups
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
