"""The calendar feed: a market's schedule as iCalendar, for editors' calendar apps.

Calendar apps cannot log in, so the URL carries the user's feed secret (hashed at rest,
revocable on the calendar page). The feed shows a market only while its owner may view it.
Every failure is the same 404, so the URL tells nothing to someone who guesses.
"""

from __future__ import annotations

from datetime import timedelta

from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.access import Action, can, can_view_group
from markets.groups.selectors import group_members_viewable, group_with_members
from markets.models import Market, MarketGroup
from portal.schedule.ical import calendar_text
from portal.schedule.selectors import schedule_events, upcoming_span
from portal.schedule.services import calendar_feed_authenticate

# Events of the last week stay in the feed, so this morning's changes do not vanish at once.
PAST = timedelta(days=7)


@require_GET
def calendar_feed(request: HttpRequest, secret: str, code: str) -> HttpResponse:
    """The iCalendar feed of `code`'s schedule for the owner of `secret`."""
    user = calendar_feed_authenticate(secret=secret)
    market = Market.objects.filter(code=code.upper()).first() if len(code) <= 32 else None
    if user is None or market is None or not can(user, Action.VIEW_MARKET, market):
        raise Http404("No such calendar.")
    return _feed(request, market.code, [market], [])


@require_GET
def calendar_group_feed(request: HttpRequest, secret: str, code: str) -> HttpResponse:
    """The iCalendar feed of group `code`'s schedule for the owner of `secret`: the group's own
    windows and those of the members the owner may view (the group page's rule)."""
    user = calendar_feed_authenticate(secret=secret)
    group = group_with_members(code) if len(code) <= 32 else None
    if user is None or group is None or not can_view_group(user, group):
        raise Http404("No such calendar.")
    return _feed(request, group.code, group_members_viewable(user=user, group=group), [group])


def _feed(request: HttpRequest, code: str, markets: list[Market], groups: list[MarketGroup]) -> HttpResponse:
    now = timezone.now()
    since, until = upcoming_span(now)
    events = schedule_events(markets=markets, groups=groups, since=since - PAST, until=until)
    body = calendar_text(
        name=f"Meridian {code} schedule", events=events, host=request.get_host().split(":")[0], now=now
    )
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Cache-Control"] = "private, max-age=300"
    response["Content-Disposition"] = f'inline; filename="meridian-{code.lower()}.ics"'
    return response
