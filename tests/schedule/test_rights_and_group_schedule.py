"""The schedule's rights windows (in the markets they concern) and the group schedule (page and
calendar feed) for every kind of user."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import icalendar
import pytest
import time_machine
from django.test import Client

from accounts.models import Role, User
from content.services import PositionChange, group_position_set, position_set
from markets.groups.services import group_rule_create
from markets.models import Market, MarketGroup
from markets.services import market_update, rule_create
from portal.schedule.selectors import (
    Edge,
    EventKind,
    ScheduleFilter,
    schedule_days,
    schedule_events,
    upcoming_span,
)
from portal.schedule.services import calendar_feed_create, calendar_feed_revoke
from tests.factories import ContentItemFactory, MarketFactory
from tests.groups import person

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


def _licensed(title: str, **rights: Any) -> Any:
    item = ContentItemFactory(title=title)
    for name, value in rights.items():
        setattr(item, f"rights_{name}", value)
    item.save()
    return item


# --- rights windows -----------------------------------------------------------------------------


@pytest.fixture
def licences(au: Market, de: Market, us: Market) -> dict[str, Any]:
    """A documentary licensed only in DE from 23:30 UTC Sunday (00:30 Monday in Berlin); a film
    whose licence ends in 5 days everywhere but DE; one that starts after 30 days."""
    return {
        "docu": _licensed(
            "Alps documentary", allow=["DE"], starts_at=NOW + timedelta(days=2, hours=11, minutes=30)
        ),
        "film": _licensed("Reef film", deny=["DE"], ends_at=NOW + timedelta(days=5)),
        "late": _licensed("Later film", starts_at=NOW + timedelta(days=40)),
    }


def test_rights_windows_are_events_in_the_markets_they_concern_on_their_local_days(
    licences: dict[str, Any], au: Market, de: Market, us: Market
) -> None:
    since, until = upcoming_span()
    events = [
        e
        for e in schedule_events(markets=[au, de, us], since=since, until=until)
        if e.kind == EventKind.RIGHTS
    ]
    # The allow list's DE only; the deny list's every market but DE; nothing beyond 30 days
    assert sorted((e.market_code, e.subject, e.edge) for e in events) == [
        ("AU", "Reef film", Edge.ENDS),
        ("DE", "Alps documentary", Edge.STARTS),
        ("US", "Reef film", Edge.ENDS),
    ]
    docu = next(e for e in events if e.market_code == "DE")
    assert (
        docu.summary == "Licence starts" and docu.detail == "Only in DE; Available from 2026-12-06 23:30 UTC"
    )
    assert docu.link == f"/content/{licences['docu'].upstream_id}"
    # 23:30 UTC on Sunday is Monday 00:30 in Berlin: the event sits on Monday
    days = schedule_days([docu])
    assert days[0].day.isoformat() == "2026-12-07" and docu.local_clock == "00:30"


def test_rights_events_cost_one_query_whatever_the_number_of_items_and_markets(
    au: Market, de: Market, us: Market, django_assert_num_queries: Any
) -> None:
    since, until = upcoming_span()
    _licensed("One", allow=["AU"], ends_at=NOW + timedelta(days=3))
    with django_assert_num_queries(4):  # positions, rules, change requests, rights
        few = schedule_events(markets=[au, de, us], since=since, until=until)
    for n in range(30):
        _licensed(f"More {n}", deny=["US"], starts_at=NOW + timedelta(days=1, hours=n))
    markets = [au, de, us, *(MarketFactory(code=c) for c in ("FR", "IT", "ES", "NL"))]
    with django_assert_num_queries(4):
        many = schedule_events(markets=markets, since=since, until=until)
    assert len(few) == 1 and len(many) == 1 + 30 * 6


def test_the_kind_filter_offers_rights(licences: dict[str, Any], editor: User) -> None:
    page = _client(editor).get("/schedule/?kind=rights").content.decode()
    assert '<option value="rights" selected>Rights window</option>' in page
    assert (
        "Licence starts: Alps documentary" in page and "Licence ends (not shown from then): Reef film" in page
    )
    only_de = _client(editor).get("/schedule/DE/?kind=rights").content.decode()
    assert "Alps documentary" in only_de and "Reef film" not in only_de


def test_a_market_user_sees_rights_events_of_their_markets_only(
    licences: dict[str, Any], au_editor: User
) -> None:
    page = _client(au_editor).get("/schedule/").content.decode()
    assert "Reef film" in page and "Alps documentary" not in page


# --- the group schedule ---------------------------------------------------------------------------


@pytest.fixture
def dach_windows(dach: MarketGroup, dach_markets: dict[str, Market], admin_user: User) -> dict[str, Any]:
    """DACH promotes an item from 23:30 UTC tonight (group time: UTC) and has a rule for next week;
    DE (Berlin time) lifts an embargo at 23:30 UTC tonight (00:30 Saturday in Berlin); AT hides an
    item from Monday; FR, outside DACH, has a window too."""
    de, at = dach_markets["DE"], dach_markets["AT"]
    market_update(actor=admin_user, market=de, timezone="Europe/Berlin")
    promo, embargo, at_item, fr_item = ContentItemFactory.create_batch(4)
    for item, title in ((promo, "Alpine week"), (embargo, "Court case"), (at_item, "Vienna ball")):
        item.title = title
        item.save()
    tonight = NOW + timedelta(hours=11, minutes=30)
    group_position_set(
        actor=admin_user, group=dach, item=promo,
        change=PositionChange(state="promoted", boost=4, starts_at=tonight, reason="Alpine week"),
    )  # fmt: skip
    rule = group_rule_create(
        actor=admin_user, group=dach, action="hide", match_sources=["gossip"],
        starts_at=NOW + timedelta(days=3), ends_at=NOW + timedelta(days=10), note="DACH youth protection",
    )  # fmt: skip
    position_set(
        actor=admin_user, market=de, item=embargo,
        change=PositionChange(state="hidden", ends_at=tonight, reason="court order"),
    )  # fmt: skip
    position_set(
        actor=admin_user, market=at, item=at_item,
        change=PositionChange(state="hidden", starts_at=NOW + timedelta(days=3), reason="AT only"),
    )  # fmt: skip
    fr = MarketFactory(code="FR")
    rule_create(
        actor=admin_user,
        market=fr,
        action="hide",
        match_sources=["tabloid"],
        starts_at=NOW + timedelta(days=1),
    )
    del fr_item
    return {"rule": rule, "promo": promo}


def test_group_events_are_the_groups_own_windows_in_utc(
    dach_windows: dict[str, Any], dach: MarketGroup, dach_markets: dict[str, Market]
) -> None:
    since, until = upcoming_span()
    events = schedule_events(markets=list(dach_markets.values()), groups=[dach], since=since, until=until)
    assert [(e.market_code, e.kind, e.edge, e.is_group) for e in events] == [
        ("DACH", EventKind.POSITION, Edge.STARTS, True),
        ("DE", EventKind.EMBARGO, Edge.ENDS, False),
        ("AT", EventKind.POSITION, Edge.STARTS, False),
        ("DACH", EventKind.RULE, Edge.STARTS, True),
        ("DACH", EventKind.RULE, Edge.ENDS, True),
    ]
    rule = dach_windows["rule"]
    assert events[3].summary == f"Group rule #{rule.pk}: hide sources gossip starts"
    # Same moment (23:30 UTC Friday): the group's event is on Friday (UTC), DE's on Saturday (Berlin)
    days = {
        d.day.isoformat(): [(e.market_code, e.local_clock) for e in d.events] for d in schedule_days(events)
    }
    assert days["2026-12-04"] == [("DACH", "23:30")]
    assert days["2026-12-05"] == [("DE", "00:30")]
    assert events[0].local_zone == "UTC"


def test_a_scheduled_group_change_request_is_on_the_groups_schedule_in_utc(
    dach_windows: dict[str, Any], dach: MarketGroup, dach_markets: dict[str, Market], admin_user: User
) -> None:
    from portal.change_requests.services import Operation, request_create

    # Given a DACH rule request submitted to apply on Monday 05:00 UTC
    monday = datetime(2026, 12, 7, 5, 0, tzinfo=UTC)
    request = request_create(
        actor=admin_user,
        group=dach,
        title="DACH gossip rule",
        operations=[Operation.rule_create(action="hide", match_sources=["gossip-weekly"])],
        apply_at=monday,
        submit=True,
    )

    # When DACH's schedule is read, then the request is one group event at its time, in UTC
    since, until = upcoming_span()
    events = schedule_events(markets=list(dach_markets.values()), groups=[dach], since=since, until=until)
    requests = [e for e in events if e.kind == EventKind.CHANGE_REQUEST]
    assert [(e.at, e.market_code, e.is_group, e.local_zone, e.link) for e in requests] == [
        (monday, "DACH", True, "UTC", f"/requests/{request.pk}/")
    ]
    # And a member market's own schedule does not repeat it (it is the group's)
    alone = schedule_events(markets=[dach_markets["DE"]], since=since, until=until)
    assert not [e for e in alone if e.kind == EventKind.CHANGE_REQUEST]
    page = Client()
    page.force_login(admin_user)
    assert "DACH gossip rule" in page.get("/schedule/groups/DACH/").content.decode()


def test_the_group_page_for_an_admin_shows_the_group_and_every_member(
    dach_windows: dict[str, Any], admin_user: User, django_assert_max_num_queries: Any
) -> None:
    client = _client(admin_user)
    client.get("/schedule/groups/DACH/")  # warm the session
    with django_assert_max_num_queries(14):
        page = client.get("/schedule/groups/DACH/").content.decode()
    assert "Promotion (boost 4) starts: Alpine week" in page
    assert "Embargo lifts: Court case" in page and "Hide starts: Vienna ball" in page
    assert "DACH youth protection" in page and "Group rule #" in page
    assert "DACH's own windows (its positions and rules) are shown by day and time in UTC" in page
    assert "Members you may not view" not in page
    assert 'href="/schedule/groups/DACH/">group DACH</a>' in page and 'href="/schedule/DE/">DE</a>' in page
    assert "hide sources tabloid" not in page  # FR is not a member


def test_the_group_page_filters_like_the_market_page(dach_windows: dict[str, Any], admin_user: User) -> None:
    client = _client(admin_user)
    own = client.get("/schedule/groups/DACH/?market=DACH").content.decode()
    assert "Alpine week" in own and "Court case" not in own and "Vienna ball" not in own
    de_only = client.get("/schedule/groups/DACH/?market=DE").content.decode()
    assert "Court case" in de_only and "Alpine week" not in de_only and "Vienna ball" not in de_only
    rules = client.get("/schedule/groups/DACH/?kind=rule&edge=ends").content.decode()
    assert "Group rule #" in rules and "ends" in rules and "Alpine week" not in rules
    bad = client.get("/schedule/groups/DACH/?market=FR&kind=nope")
    assert bad.status_code == 200 and "Select a valid choice" in bad.content.decode()
    # the fragment (HTMX) is the list only
    fragment = client.get("/schedule/groups/DACH/?market=DACH", HTTP_HX_REQUEST="true").content.decode()
    assert "Alpine week" in fragment and "<html" not in fragment


def test_a_member_markets_manager_sees_the_group_and_their_own_markets_part(
    dach_windows: dict[str, Any], dach_markets: dict[str, Market]
) -> None:
    # Given Lukas, manager of DE only (DACH has AT and CH too)
    lukas = person("lukas", Role.MARKET_MANAGER, dach_markets["DE"])
    page = _client(lukas).get("/schedule/groups/DACH/").content.decode()
    # Then he sees DACH's own windows and DE's, not AT's, and the page says what is left out
    assert "Alpine week" in page and "Court case" in page and "Vienna ball" not in page
    assert "Members you may not view are left out: AT, CH." in page
    # and he may not choose AT in the filter (a field error, not AT's events)
    at = _client(lukas).get("/schedule/groups/DACH/?market=AT").content.decode()
    assert "Vienna ball" not in at and "Select a valid choice" in at


def test_a_role_on_the_group_covers_every_member(dach_windows: dict[str, Any], dach: MarketGroup) -> None:
    greta = person("greta", Role.EDITOR, group=dach)
    page = _client(greta).get("/schedule/groups/DACH/").content.decode()
    assert "Alpine week" in page and "Court case" in page and "Vienna ball" in page


def test_people_who_do_not_see_the_group_are_refused(
    dach_windows: dict[str, Any], reviewer: User, nobody: User, au_editor: User, admin_user: User
) -> None:
    fr_editor = person("fr-editor", Role.EDITOR, Market.objects.get(code="FR"))
    for user in (fr_editor, au_editor, reviewer, nobody):
        response = _client(user).get("/schedule/groups/DACH/")
        assert response.status_code == 403, user.username
        assert "Alpine week" not in response.content.decode()
    assert _client(admin_user).get("/schedule/groups/NOPE/").status_code == 404
    assert Client().get("/schedule/groups/DACH/").status_code == 302  # log in first


def test_the_group_schedule_is_linked_from_the_group_page_and_the_overall_schedule(
    dach_windows: dict[str, Any], dach_markets: dict[str, Market], au_editor: User
) -> None:
    lukas = person("lukas", Role.MARKET_MANAGER, dach_markets["DE"])
    client = _client(lukas)
    assert 'href="/schedule/groups/DACH/"' in client.get("/groups/DACH/").content.decode()
    overall = client.get("/schedule/").content.decode()
    assert 'id="group-schedules"' in overall and 'href="/schedule/groups/DACH/"' in overall
    # The overall page stays the user's markets (group windows are on the group's page)
    assert "Alpine week" not in overall and "Court case" in overall
    assert 'id="group-schedules"' not in _client(au_editor).get("/schedule/").content.decode()


def test_the_group_calendar_feed_for_a_member_manager(
    dach_windows: dict[str, Any], dach_markets: dict[str, Market]
) -> None:
    lukas = person("lukas", Role.MARKET_MANAGER, dach_markets["DE"])
    issued = calendar_feed_create(actor=lukas)
    response = Client().get(f"/calendar/{issued.secret}/groups/DACH.ics")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/calendar")
    assert 'filename="meridian-dach.ics"' in response["Content-Disposition"]
    events = list(icalendar.Calendar.from_ical(response.content).walk("VEVENT"))
    summaries = sorted(str(e["SUMMARY"]) for e in events)
    assert any(s.startswith("DACH: Promotion (boost 4) starts: Alpine week") for s in summaries)
    assert any(s.startswith("DE: Embargo lifts: Court case") for s in summaries)
    assert not any("Vienna ball" in s for s in summaries)  # AT is not his
    assert any(str(e["DESCRIPTION"]).startswith("Rule in group DACH (UTC).") for e in events)
    # The calendar page gives him the group's link too
    made = _client(lukas).post("/schedule/calendar/").content.decode()
    assert "/groups/DACH.ics" in made


def test_the_group_feed_refuses_with_the_same_404(
    dach_windows: dict[str, Any], dach_markets: dict[str, Market], au_editor: User
) -> None:
    lukas = person("lukas", Role.MARKET_MANAGER, dach_markets["DE"])
    issued = calendar_feed_create(actor=lukas)
    outsider = calendar_feed_create(actor=au_editor)
    assert Client().get(f"/calendar/{outsider.secret}/groups/DACH.ics").status_code == 404
    assert Client().get(f"/calendar/{issued.secret}/groups/NOPE.ics").status_code == 404
    assert Client().get("/calendar/mcal_wrong/groups/DACH.ics").status_code == 404
    calendar_feed_revoke(actor=lukas, token=issued.token)
    assert Client().get(f"/calendar/{issued.secret}/groups/DACH.ics").status_code == 404


def test_group_events_and_member_markets_cost_a_fixed_number_of_queries(
    dach: MarketGroup, dach_markets: dict[str, Market], admin_user: User, django_assert_num_queries: Any
) -> None:
    since, until = upcoming_span()
    items = ContentItemFactory.create_batch(20)
    for i, item in enumerate(items):
        group_position_set(
            actor=admin_user, group=dach, item=item,
            change=PositionChange(state="shown", starts_at=NOW + timedelta(hours=i + 1)),
        )  # fmt: skip
        position_set(
            actor=admin_user, market=dach_markets["AT"], item=item,
            change=PositionChange(state="hidden", ends_at=NOW + timedelta(hours=i + 1)),
        )  # fmt: skip
    # positions, rules, change requests, rights, group positions, group rules
    with django_assert_num_queries(6):
        events = schedule_events(
            markets=list(dach_markets.values()), groups=[dach], since=since, until=until,
            where=ScheduleFilter(),
        )  # fmt: skip
    assert len(events) == 40
