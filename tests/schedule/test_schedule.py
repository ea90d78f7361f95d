"""The schedule: upcoming windows by the market's local day, filters, scope; the calendar feed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import icalendar
import pytest
import time_machine
from django.test import Client

from accounts.models import Membership, Role, User
from content.services import PositionChange, position_set
from markets.models import Market, Rule
from markets.services import rule_create
from portal.audit.models import AuditEntry
from portal.schedule.ical import calendar_text
from portal.schedule.models import CalendarFeedToken
from portal.schedule.selectors import (
    Edge,
    EventKind,
    ScheduleEvent,
    ScheduleFilter,
    schedule_days,
    schedule_events,
    upcoming_span,
)
from portal.schedule.services import calendar_feed_create, calendar_feed_revoke
from tests.factories import ContentItemFactory, TagFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)  # a Friday


@pytest.fixture(autouse=True)
def _frozen() -> Any:
    with time_machine.travel(NOW, tick=False):
        yield


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def windows(editor: User, admin_user: User, au: Market, de: Market) -> dict[str, Any]:
    """An AU promotion starting 22:00 UTC Friday (Saturday 09:00 in Sydney), a DE embargo lifting
    Friday 17:00 UTC (18:00 in Berlin), a DE hide rule for next week, and one beyond 30 days."""
    TagFactory(slug="hunting")
    ocean, hunt, late = ContentItemFactory.create_batch(3)
    position_set(
        actor=editor, market=au, item=ocean,
        change=PositionChange(state="promoted", boost=3, starts_at=NOW + timedelta(hours=10),
                              ends_at=NOW + timedelta(days=7, hours=10), reason="Ocean Week"),
    )  # fmt: skip
    position_set(
        actor=editor, market=de, item=hunt,
        change=PositionChange(state="hidden", ends_at=NOW + timedelta(hours=5), reason="embargo"),
    )  # fmt: skip
    rule_create(
        actor=admin_user, market=de, action="hide", match_tags=["hunting"],
        starts_at=NOW + timedelta(days=3), note="youth protection",
    )  # fmt: skip
    position_set(
        actor=editor, market=au, item=late,
        change=PositionChange(state="pinned", slot=1, starts_at=NOW + timedelta(days=40)),
    )  # fmt: skip
    return {"ocean": ocean, "hunt": hunt}


def test_events_are_the_window_edges_in_the_next_30_days_in_time_order(
    windows: dict[str, Any], au: Market, de: Market
) -> None:
    since, until = upcoming_span()
    events = schedule_events(markets=[au, de], since=since, until=until)
    assert [(e.market_code, e.kind, e.edge) for e in events] == [
        ("DE", EventKind.EMBARGO, Edge.ENDS),
        ("AU", EventKind.POSITION, Edge.STARTS),
        ("DE", EventKind.RULE, Edge.STARTS),
        ("AU", EventKind.POSITION, Edge.ENDS),
    ]
    assert events[0].title.startswith("Embargo lifts")


def test_days_are_the_markets_local_days(windows: dict[str, Any], au: Market, de: Market) -> None:
    since, until = upcoming_span()
    days = schedule_days(schedule_events(markets=[au, de], since=since, until=until))
    # 17:00 UTC Friday is 18:00 Friday in Berlin; 22:00 UTC Friday is 09:00 Saturday in Sydney
    assert [(d.day.isoformat(), [e.market_code for e in d.events]) for d in days][:2] == [
        ("2026-12-04", ["DE"]),
        ("2026-12-05", ["AU"]),
    ]
    assert days[0].events[0].local.hour == 18 and days[1].events[0].local.hour == 9


def test_filters_by_kind_and_edge(windows: dict[str, Any], au: Market, de: Market) -> None:
    since, until = upcoming_span()
    rules = schedule_events(
        markets=[au, de], since=since, until=until, where=ScheduleFilter(kinds=frozenset({"rule"}))
    )
    assert [e.kind for e in rules] == [EventKind.RULE]
    ends = schedule_events(markets=[au, de], since=since, until=until, where=ScheduleFilter(edge="ends"))
    assert {e.edge for e in ends} == {Edge.ENDS} and len(ends) == 2


def test_the_page_shows_only_the_users_markets(
    windows: dict[str, Any], au_editor: User, editor: User, django_assert_max_num_queries: Any
) -> None:
    client = _client(au_editor)
    with django_assert_max_num_queries(10):
        page = client.get("/schedule/").content.decode()
    assert "Ocean Week" in page and "Embargo lifts" not in page and "Rule #" not in page
    assert _client(au_editor).get("/schedule/DE/").status_code == 403
    full = _client(editor).get("/schedule/?kind=embargo").content.decode()
    assert "Embargo lifts" in full and "Ocean Week" not in full
    # Times are the market's: the embargo lifts at 18:00 in Berlin (17:00 UTC)
    assert '<time datetime="2026-12-04T17:00:00+00:00" title="2026-12-04 17:00 UTC">18:00</time>' in full
    assert "CET" in full
    only_au = _client(editor).get("/schedule/?market=AU&edge=starts").content.decode()
    assert (
        "Ocean Week" in only_au
        and "Embargo lifts" not in only_au
        and "Promotion (boost 3) ends" not in only_au
    )


def test_bad_filters_are_field_errors_not_500(editor: User, au: Market) -> None:
    response = _client(editor).get("/schedule/?kind=nope&edge=x&market=ZZ&page=abc")
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()


def test_the_market_page_pages_through_many_events(editor: User, au: Market) -> None:
    items = ContentItemFactory.create_batch(60)
    for i, item in enumerate(items):
        position_set(
            actor=editor, market=au, item=item,
            change=PositionChange(state="shown", starts_at=NOW + timedelta(hours=i + 1),
                                  ends_at=NOW + timedelta(days=2, hours=i)),
        )  # fmt: skip
    client = _client(editor)
    first = client.get("/schedule/AU/").content.decode()
    assert "120 events" in first and "page 1 of 2" in first
    assert first.count('class="schedule-event"') == 100
    assert "page 2 of 2" in client.get("/schedule/AU/?page=2").content.decode()


def test_the_calendar_feed_is_valid_icalendar_in_utc(
    windows: dict[str, Any], editor: User, de: Market
) -> None:
    issued = calendar_feed_create(actor=editor)
    response = Client().get(f"/calendar/{issued.secret}/DE.ics")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/calendar")
    body = response.content
    assert b"\r\n" in body and all(len(line) <= 75 for line in body.split(b"\r\n"))
    calendar = icalendar.Calendar.from_ical(body)
    events = list(calendar.walk("VEVENT"))
    starts = sorted(e.decoded("DTSTART") for e in events)
    assert starts == [NOW + timedelta(hours=5), NOW + timedelta(days=3)]
    assert all(
        e.decoded("DTSTART").tzinfo is not None and e.decoded("DTSTART").utcoffset() == timedelta(0)
        for e in events
    )
    rule = Rule.objects.get()
    assert {str(e["SUMMARY"]) for e in events} >= {f"DE: Rule #{rule.pk}: hide tags hunting starts"}
    assert CalendarFeedToken.objects.get().token_hash != issued.secret


def test_the_feed_refuses_wrong_revoked_and_out_of_scope_tokens(
    windows: dict[str, Any], au_editor: User, editor: User
) -> None:
    issued = calendar_feed_create(actor=au_editor)
    assert Client().get(f"/calendar/{issued.secret}/AU.ics").status_code == 200
    # Not their market, an unknown market, a wrong secret: the same 404
    assert Client().get(f"/calendar/{issued.secret}/DE.ics").status_code == 404
    assert Client().get(f"/calendar/{issued.secret}/ZZ.ics").status_code == 404
    assert Client().get("/calendar/mcal_wrong/AU.ics").status_code == 404
    # A new link revokes the old one; revoking ends the feed
    newer = calendar_feed_create(actor=au_editor)
    assert Client().get(f"/calendar/{issued.secret}/AU.ics").status_code == 404
    calendar_feed_revoke(actor=au_editor, token=newer.token)
    assert Client().get(f"/calendar/{newer.secret}/AU.ics").status_code == 404
    # A membership taken away takes the market out of the feed
    third = calendar_feed_create(actor=au_editor)
    Membership.objects.filter(user=au_editor).delete()
    assert Client().get(f"/calendar/{third.secret}/AU.ics").status_code == 404
    assert AuditEntry.objects.filter(action="calendar_feed.revoke").count() == 2


def test_the_calendar_page_shows_the_links_once_and_revokes(
    editor: User, au_editor: User, reviewer: User
) -> None:
    client = _client(editor)
    made = client.post("/schedule/calendar/")
    assert made["Cache-Control"] == "no-store"
    assert "/calendar/mcal_" in made.content.decode() and "/AU.ics" in made.content.decode()
    assert "/calendar/mcal_" not in client.get("/schedule/calendar/").content.decode()
    token = CalendarFeedToken.objects.get()
    assert client.post(f"/schedule/calendar/{token.pk}/revoke/").status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    # Someone else's link is not found; a reviewer (no markets) may not make one
    theirs = calendar_feed_create(
        actor=Membership.objects.get(role=Role.EDITOR, user__username="au-editor").user
    )
    assert client.post(f"/schedule/calendar/{theirs.token.pk}/revoke/").status_code == 404
    assert _client(reviewer).post("/schedule/calendar/").status_code == 403


def test_ical_text_escapes_and_folds() -> None:
    event = ScheduleEvent(
        at=NOW, edge=Edge.STARTS, kind=EventKind.POSITION, market_code="DE", timezone="Europe/Berlin",
        summary="Ä title, with; commas\\ and", subject="a very long tail " + "ü" * 80,
        detail="line one\nline two", uid="p-1",
    )  # fmt: skip
    text = calendar_text(name="Meridian DE", events=[event], host="meridian.example.com", now=NOW)
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
    parsed = list(icalendar.Calendar.from_ical(text).walk("VEVENT"))[0]
    assert str(parsed["SUMMARY"]).startswith("DE: Ä title, with; commas\\ and")
    assert str(parsed["DESCRIPTION"]).endswith("line one\nline two")


def test_events_at_one_moment_for_one_reason_are_one_line(editor: User, au: Market) -> None:
    items = ContentItemFactory.create_batch(5)
    for item in items:
        position_set(
            actor=editor, market=au, item=item,
            change=PositionChange(
                state="promoted", boost=3, starts_at=NOW + timedelta(days=1), reason="Ocean Week"
            ),
        )  # fmt: skip
    since, until = upcoming_span()
    days = schedule_days(schedule_events(markets=[au], since=since, until=until))
    assert len(days) == 1 and len(days[0].moments) == 1 and len(days[0].moments[0].subjects) == 5
    page = _client(editor).get("/schedule/AU/").content.decode()
    assert "Promotion (boost 3) starts: 5 items" in page


def test_scheduled_change_requests_are_on_the_schedule_until_they_apply(
    editor: User, admin_user: User, au: Market, de: Market
) -> None:
    from portal.change_requests.services import Operation, policy_set, request_create

    # Given a submitted AU request for Monday 06:00 Sydney, a draft one, and one past the 30 days
    policy_set(actor=admin_user, market=au, approvals_required=1, positions=True)
    item = ContentItemFactory(title="Launch film")
    monday = datetime(2026, 12, 6, 19, 0, tzinfo=UTC)  # Monday 07 Dec, 06:00 in Sydney
    ops = [Operation.position(item, PositionChange(state="pinned", slot=2))]
    launch = request_create(
        actor=editor, market=au, title="Launch pins", operations=ops, apply_at=monday, submit=True
    )
    request_create(actor=editor, market=au, title="Draft", operations=ops, apply_at=monday)
    later = NOW + timedelta(days=40)
    request_create(actor=editor, market=au, title="Later", operations=ops, apply_at=later, submit=True)

    # When the schedule is read
    since, until = upcoming_span()
    events = schedule_events(markets=[au, de], since=since, until=until)

    # Then the submitted request is one event at its time, on its local day, and links to it
    requests = [e for e in events if e.kind == EventKind.CHANGE_REQUEST]
    assert [(e.at, e.subject, e.link) for e in requests] == [
        (monday, "Launch pins", f"/requests/{launch.pk}/")
    ]
    assert requests[0].summary == f"Change request #{launch.pk} applies (if approved by then)"
    assert requests[0].local_clock == "06:00"

    # And the schedule page can show scheduled change requests alone
    window = ContentItemFactory(title="Reef week")
    position_set(
        actor=editor, market=de, item=window,
        change=PositionChange(state="promoted", boost=1, starts_at=NOW + timedelta(days=2)),
    )  # fmt: skip
    everything = _client(editor).get("/schedule/").content.decode()
    assert "Launch pins" in everything and "Reef week" in everything
    page = _client(editor).get("/schedule/?kind=change_request").content.decode()
    assert '<option value="change_request" selected>Scheduled change request</option>' in page
    assert "Launch pins" in page and "Reef week" not in page
