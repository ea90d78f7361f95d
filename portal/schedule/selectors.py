"""The schedule: what starts or ends in a market's next days, grouped by the market's local day.

Each kind of window comes from one *source*: a function from a `ScheduleQuery` to events.
`SOURCES` lists them: positions (with embargoes), rules, scheduled change requests, content
rights windows, and the windows of market groups. A group's schedule passes the group in the
query's `groups` and its member markets (those the user may view) in `markets`: the pages,
filters and the calendar feed need no change.

Days: a market's events sit on the market's local day (its time zone); a group has no time zone,
so its own events (group positions and group rules) are in UTC.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from itertools import groupby
from zoneinfo import ZoneInfo

from django.db.models import Q

from content.models import ContentItem, GroupPosition, Position, PositionState
from markets.models import GroupRule, Market, MarketGroup, Rule
from portal.change_requests.models import ChangeRequest, RequestState

DAYS_AHEAD = 30
# A group has no time zone: its own windows are shown (and grouped by day) in UTC.
GROUP_TIMEZONE = "UTC"


class EventKind(StrEnum):
    POSITION = "position"
    EMBARGO = "embargo"
    RULE = "rule"
    # Seams: sources added by the change-request and rights areas use these kinds.
    CHANGE_REQUEST = "change_request"
    RIGHTS = "rights"


KIND_LABELS = {
    EventKind.POSITION: "Position",
    EventKind.EMBARGO: "Embargo",
    EventKind.RULE: "Rule",
    EventKind.CHANGE_REQUEST: "Scheduled change request",
    EventKind.RIGHTS: "Rights window",
}


class Edge(StrEnum):
    STARTS = "starts"
    ENDS = "ends"


@dataclass(frozen=True)
class ScheduleEvent:
    """One moment a window starts or ends, in one market."""

    at: datetime  # UTC
    edge: Edge
    kind: EventKind
    market_code: str
    timezone: str
    # What happens ("Promotion (boost 3) starts") and to what (an item's title; empty for rules).
    summary: str
    subject: str
    detail: str
    # Stable across changes of the window, so a calendar moves the event instead of adding one.
    uid: str
    sequence: int = 0
    link: str = ""
    # The event is a market group's own window (market_code is then the group's code; UTC).
    is_group: bool = False

    @property
    def title(self) -> str:
        return f"{self.summary}: {self.subject}" if self.subject else self.summary

    @property
    def local(self) -> datetime:
        return self.at.astimezone(ZoneInfo(self.timezone))

    @property
    def local_clock(self) -> str:
        """ "18:00" in the market's time (templates' date filter would convert to UTC)."""
        return self.local.strftime("%H:%M")

    @property
    def local_zone(self) -> str:
        return self.local.tzname() or self.timezone


@dataclass(frozen=True)
class ScheduleQuery:
    """Which markets (and groups) and which span a source reads (the caller scopes them)."""

    markets: Sequence[Market]
    since: datetime
    until: datetime
    # Groups whose own windows are read (a group's schedule); market sources ignore them.
    groups: Sequence[MarketGroup] = ()


Source = Callable[[ScheduleQuery], Iterable[ScheduleEvent]]


def _edges(start: datetime | None, end: datetime | None, query: ScheduleQuery) -> list[tuple[Edge, datetime]]:
    found = []
    if start is not None and query.since <= start < query.until:
        found.append((Edge.STARTS, start))
    if end is not None and query.since <= end < query.until:
        found.append((Edge.ENDS, end))
    return found


def _in_span(query: ScheduleQuery) -> Q:
    return Q(starts_at__gte=query.since, starts_at__lt=query.until) | Q(
        ends_at__gte=query.since, ends_at__lt=query.until
    )


def position_events(query: ScheduleQuery) -> Iterable[ScheduleEvent]:
    """Position windows; a hide that ends is an embargo (the item shows from then on)."""
    if not query.markets:
        return
    rows = (
        Position.objects.filter(market__in=query.markets)
        .exclude(state=PositionState.DEFAULT)
        .filter(_in_span(query))
        .select_related("item", "market")
        .only(
            "state",
            "boost",
            "slot",
            "starts_at",
            "ends_at",
            "reason",
            "version",
            "item__upstream_id",
            "item__title",
            "market__code",
            "market__timezone",
        )  # fmt: skip
    )
    for row in rows:
        embargo = row.state == PositionState.HIDDEN and row.ends_at is not None
        what = _position_what(row.state, row.boost, row.slot)
        for edge, at in _edges(row.starts_at, row.ends_at, query):
            if embargo:
                summary = f"Embargo {'lifts' if edge == Edge.ENDS else 'starts'}"
            else:
                summary = f"{what} {edge}"
            yield ScheduleEvent(
                at=at,
                edge=edge,
                kind=EventKind.EMBARGO if embargo else EventKind.POSITION,
                market_code=row.market.code,
                timezone=row.market.timezone,
                summary=summary,
                subject=row.item.title,
                detail=row.reason,
                uid=f"position-{row.market.code}-{row.item.upstream_id}-{edge}",
                sequence=row.version,
                link=f"/content/{row.item.upstream_id}",
            )


def _position_what(state: str, boost: int, slot: int | None) -> str:
    return {
        PositionState.HIDDEN: "Hide",
        PositionState.SHOWN: "Show",
        PositionState.PROMOTED: f"Promotion (boost {boost})",
        PositionState.PINNED: f"Pin to slot {slot}",
    }.get(PositionState(state), state)


def _rule_what(rule: Rule | GroupRule) -> str:
    what = f"Rule #{rule.pk}: {rule.get_action_display().lower()} {rule.match_summary}"
    if rule.boost:
        what += f" (boost {rule.boost})"
    return what


def rule_events(query: ScheduleQuery) -> Iterable[ScheduleEvent]:
    """Rule windows."""
    if not query.markets:
        return
    rows = Rule.objects.filter(market__in=query.markets).filter(_in_span(query)).select_related("market")
    for rule in rows:
        what = _rule_what(rule)
        for edge, at in _edges(rule.starts_at, rule.ends_at, query):
            yield ScheduleEvent(
                at=at,
                edge=edge,
                kind=EventKind.RULE,
                market_code=rule.market.code,
                timezone=rule.market.timezone,
                summary=f"{what} {'starts' if edge == Edge.STARTS else 'ends'}",
                subject="",
                detail=rule.note,
                uid=f"rule-{rule.pk}-{edge}",
                sequence=rule.version,
                link=f"/markets/{rule.market.code}/rules/{rule.pk}/",
            )


def change_request_events(query: ScheduleQuery) -> Iterable[ScheduleEvent]:
    """Change requests waiting to apply at a set time (submitted or approved): the markets' own,
    and the query's groups' (a group's schedule), those in UTC like the group's other windows."""
    if not query.markets and not query.groups:
        return
    rows = (
        ChangeRequest.objects.filter(
            Q(market__in=query.markets) | Q(group__in=query.groups),
            state__in=(RequestState.SUBMITTED, RequestState.APPROVED),
            apply_at__gte=query.since,
            apply_at__lt=query.until,
        )
        .select_related("market", "group")
        .only("title", "state", "apply_at", "updated_at", "market__code", "market__timezone", "group__code")
    )
    for request in rows:
        assert request.apply_at is not None
        if request.market is not None:
            code, zone, is_group = request.market.code, request.market.timezone, False
        else:
            assert request.group is not None
            code, zone, is_group = request.group.code, GROUP_TIMEZONE, True
        waiting = "" if request.state == RequestState.APPROVED else " (if approved by then)"
        yield ScheduleEvent(
            at=request.apply_at,
            edge=Edge.STARTS,
            kind=EventKind.CHANGE_REQUEST,
            market_code=code,
            timezone=zone,
            summary=f"Change request #{request.pk} applies{waiting}",
            subject=request.title,
            detail="",
            uid=f"change-request-{request.pk}",
            sequence=int(request.updated_at.timestamp()),
            link=f"/requests/{request.pk}/",
            is_group=is_group,
        )


def rights_events(query: ScheduleQuery) -> Iterable[ScheduleEvent]:
    """Content rights windows: an item's licence starts or ends in each market it concerns (the
    `allow` list, or every market but the `deny` list), on that market's local day.

    One query, whatever the number of markets or items: the allow and deny lists are matched here
    (JSON lists cannot be matched by SQLite and PostgreSQL alike).
    """
    if not query.markets:
        return
    in_span = Q(rights_starts_at__gte=query.since, rights_starts_at__lt=query.until) | Q(
        rights_ends_at__gte=query.since, rights_ends_at__lt=query.until
    )
    rows = (
        ContentItem.objects.filter(in_span)
        .only(
            "upstream_id",
            "title",
            "rights_allow",
            "rights_deny",
            "rights_starts_at",
            "rights_ends_at",
            "version",
        )
        .order_by("pk")
    )
    for item in rows:
        allow, deny = set(item.rights_allow or ()), set(item.rights_deny or ())
        concerned = [m for m in query.markets if (not allow or m.code in allow) and m.code not in deny]
        if not concerned:
            continue
        detail = "; ".join(item.rights_summary)
        for edge, at in _edges(item.rights_starts_at, item.rights_ends_at, query):
            summary = "Licence starts" if edge == Edge.STARTS else "Licence ends (not shown from then)"
            for market in concerned:
                yield ScheduleEvent(
                    at=at,
                    edge=edge,
                    kind=EventKind.RIGHTS,
                    market_code=market.code,
                    timezone=market.timezone,
                    summary=summary,
                    subject=item.title,
                    detail=detail,
                    uid=f"rights-{market.code}-{item.upstream_id}-{edge}",
                    sequence=item.version,
                    link=f"/content/{item.upstream_id}",
                )


def group_events(query: ScheduleQuery) -> Iterable[ScheduleEvent]:
    """The query's groups' own windows: group positions and group rules, in UTC (two queries)."""
    if not query.groups:
        return
    positions = (
        GroupPosition.objects.filter(group__in=query.groups)
        .exclude(state=PositionState.DEFAULT)
        .filter(_in_span(query))
        .select_related("item", "group")
        .only(
            "state",
            "boost",
            "starts_at",
            "ends_at",
            "reason",
            "version",
            "item__upstream_id",
            "item__title",
            "group__code",
        )  # fmt: skip
    )
    for row in positions:
        embargo = row.state == PositionState.HIDDEN and row.ends_at is not None
        what = _position_what(row.state, row.boost, None)
        for edge, at in _edges(row.starts_at, row.ends_at, query):
            summary = f"Embargo {'lifts' if edge == Edge.ENDS else 'starts'}" if embargo else f"{what} {edge}"
            yield ScheduleEvent(
                at=at,
                edge=edge,
                kind=EventKind.EMBARGO if embargo else EventKind.POSITION,
                market_code=row.group.code,
                timezone=GROUP_TIMEZONE,
                summary=summary,
                subject=row.item.title,
                detail=row.reason,
                uid=f"group-position-{row.group.code}-{row.item.upstream_id}-{edge}",
                sequence=row.version,
                link=f"/content/{row.item.upstream_id}",
                is_group=True,
            )
    rules = GroupRule.objects.filter(group__in=query.groups).filter(_in_span(query)).select_related("group")
    for rule in rules:
        what = _rule_what(rule)
        for edge, at in _edges(rule.starts_at, rule.ends_at, query):
            yield ScheduleEvent(
                at=at,
                edge=edge,
                kind=EventKind.RULE,
                market_code=rule.group.code,
                timezone=GROUP_TIMEZONE,
                summary=f"Group {what[0].lower()}{what[1:]} {'starts' if edge == Edge.STARTS else 'ends'}",
                subject="",
                detail=rule.note,
                uid=f"group-rule-{rule.pk}-{edge}",
                sequence=rule.version,
                link=f"/groups/{rule.group.code}/#rules",
                is_group=True,
            )


# Every source of the schedule, one per kind of window.
SOURCES: list[Source] = [position_events, rule_events, change_request_events, rights_events, group_events]


@dataclass(frozen=True)
class ScheduleFilter:
    kinds: frozenset[str] = frozenset()
    edge: str = ""


def schedule_events(
    *,
    markets: Sequence[Market],
    since: datetime,
    until: datetime,
    where: ScheduleFilter = ScheduleFilter(),  # noqa: B008  (frozen, shared safely)
    groups: Sequence[MarketGroup] = (),
) -> list[ScheduleEvent]:
    """Return the events of `markets` (and the own windows of `groups`) in [since, until), in
    time order, filtered by `where`.

    The caller scopes `markets` and `groups` to what the user may view (one query per source,
    whatever the number of markets or events).
    """
    if not markets and not groups:
        return []
    query = ScheduleQuery(markets=markets, since=since, until=until, groups=groups)
    events = [event for source in SOURCES for event in source(query)]
    if where.kinds:
        events = [e for e in events if e.kind in where.kinds]
    if where.edge:
        events = [e for e in events if e.edge == where.edge]
    return sorted(events, key=lambda e: (e.at, e.market_code, e.uid))


def upcoming_span(now: datetime | None = None, days: int = DAYS_AHEAD) -> tuple[datetime, datetime]:
    """Return [now, now + days) in UTC: what the schedule page shows."""
    start = (now or datetime.now(UTC)).astimezone(UTC)
    return start, start + timedelta(days=days)


@dataclass
class ScheduleMoment:
    """Events of one market that happen at one moment for one reason: a bulk change's 40 items
    starting together are one line ("Promotion (boost 3) starts: 40 items"), not 40."""

    events: list[ScheduleEvent]

    @property
    def first(self) -> ScheduleEvent:
        return self.events[0]

    @property
    def subjects(self) -> list[str]:
        return [e.subject for e in self.events if e.subject]


@dataclass
class ScheduleDay:
    day: date
    moments: list[ScheduleMoment] = field(default_factory=list)

    @property
    def events(self) -> list[ScheduleEvent]:
        return [e for m in self.moments for e in m.events]


def _moment_key(event: ScheduleEvent) -> tuple[datetime, str, str, str, str]:
    return (event.at, event.market_code, event.kind, event.summary, event.detail)


def schedule_days(events: Iterable[ScheduleEvent]) -> list[ScheduleDay]:
    """Group `events` by their day in their own market's local time (days in order), and within
    a day by moment (same time, market, kind, change and reason)."""
    keyed = sorted(events, key=lambda e: (e.local.date(), *_moment_key(e), e.subject))
    days = []
    for day, same_day in groupby(keyed, key=lambda e: e.local.date()):
        moments = [ScheduleMoment(list(group)) for _, group in groupby(same_day, key=_moment_key)]
        days.append(ScheduleDay(day, moments))
    return days
