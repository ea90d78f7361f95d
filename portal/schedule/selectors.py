"""The schedule: what starts or ends in a market's next days, grouped by the market's local day.

Each kind of window comes from one *source*: a function from a `ScheduleQuery` to events.
`SOURCES` lists them: positions (with embargoes), rules and scheduled change requests. Rights
windows are added by appending their source, and group schedules by passing a group's member markets (plus the
group's own windows, from its source) in the query: the pages, filters and the calendar feed
need no change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from itertools import groupby
from zoneinfo import ZoneInfo

from django.db.models import Q

from content.models import Position, PositionState
from markets.models import Market, Rule
from portal.change_requests.models import ChangeRequest, RequestState

DAYS_AHEAD = 30


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
    """Which markets and which span a source reads (the markets are the caller's to scope)."""

    markets: Sequence[Market]
    since: datetime
    until: datetime


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
        what = {
            PositionState.HIDDEN: "Hide",
            PositionState.SHOWN: "Show",
            PositionState.PROMOTED: f"Promotion (boost {row.boost})",
            PositionState.PINNED: f"Pin to slot {row.slot}",
        }.get(PositionState(row.state), row.state)
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


def rule_events(query: ScheduleQuery) -> Iterable[ScheduleEvent]:
    """Rule windows."""
    rows = Rule.objects.filter(market__in=query.markets).filter(_in_span(query)).select_related("market")
    for rule in rows:
        what = f"Rule #{rule.pk}: {rule.get_action_display().lower()} {rule.match_summary}"
        if rule.boost:
            what += f" (boost {rule.boost})"
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
    """Change requests waiting to apply at a set time (submitted or approved)."""
    rows = (
        ChangeRequest.objects.filter(
            market__in=query.markets,
            state__in=(RequestState.SUBMITTED, RequestState.APPROVED),
            apply_at__gte=query.since,
            apply_at__lt=query.until,
        )
        .select_related("market")
        .only("title", "state", "apply_at", "updated_at", "market__code", "market__timezone")
    )
    for request in rows:
        assert request.apply_at is not None and request.market is not None  # market requests only
        waiting = "" if request.state == RequestState.APPROVED else " (if approved by then)"
        yield ScheduleEvent(
            at=request.apply_at,
            edge=Edge.STARTS,
            kind=EventKind.CHANGE_REQUEST,
            market_code=request.market.code,
            timezone=request.market.timezone,
            summary=f"Change request #{request.pk} applies{waiting}",
            subject=request.title,
            detail="",
            uid=f"change-request-{request.pk}",
            sequence=int(request.updated_at.timestamp()),
            link=f"/requests/{request.pk}/",
        )


# Every source of the schedule; the rights area appends its own.
SOURCES: list[Source] = [position_events, rule_events, change_request_events]


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
) -> list[ScheduleEvent]:
    """Return the events of `markets` in [since, until), in time order, filtered by `where`.

    The caller scopes `markets` to what the user may view (one query per source, whatever the
    number of markets or events).
    """
    if not markets:
        return []
    query = ScheduleQuery(markets=markets, since=since, until=until)
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
