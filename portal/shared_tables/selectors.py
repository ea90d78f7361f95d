"""Reads on the publishing pipeline: its status, a market's "published vs saved", the reference feed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Max, Min, Q, QuerySet

from content.labels.selectors import blocked_images_by_item, reason_with_image_blocks
from content.models import ContentItem
from markets.models import Market
from portal.shared_tables.config import shared_tables, shared_tables_reader
from portal.shared_tables.models import OutboxEntry, OutboxKind, OutboxStatus
from portal.shared_tables.outage import outage_paused
from positioning.reader import PublishedMarket
from positioning.resolver import Candidate
from positioning.tables import SharedTablesError

FEED_DEFAULT_LIMIT = 20
FEED_MAX_LIMIT = 100
# Candidates per feed request: the stand-in search engine returns twice the page so that hidden
# items still leave a full page, and never more than two BatchGetItems' worth of lookups.
FEED_MIN_CANDIDATES = 50
FEED_MAX_CANDIDATES = 200

_OPEN = (OutboxStatus.PENDING, OutboxStatus.DEAD)


@dataclass(frozen=True)
class PublishStatus:
    """The pipeline at a glance: rows waiting, rows failed for good, and how old the backlog is."""

    pending: int
    dead: int
    oldest_pending_at: datetime | None
    last_error: str
    last_error_at: datetime | None
    paused: bool

    @property
    def failing(self) -> bool:
        return self.dead > 0


def publish_status() -> PublishStatus:
    """Return the counts of pending and dead outbox rows, the oldest pending and the latest error."""
    open_rows = OutboxEntry.objects.filter(status__in=_OPEN)
    counts = open_rows.aggregate(
        pending=Count("id", filter=Q(status=OutboxStatus.PENDING)),
        dead=Count("id", filter=Q(status=OutboxStatus.DEAD)),
        oldest=Min("created_at", filter=Q(status=OutboxStatus.PENDING)),
    )
    latest = open_rows.exclude(last_error="").order_by("-id").values_list("last_error", "created_at").first()
    return PublishStatus(
        pending=counts["pending"],
        dead=counts["dead"],
        oldest_pending_at=counts["oldest"],
        last_error=latest[0] if latest else "",
        last_error_at=latest[1] if latest else None,
        paused=outage_paused(),
    )


def dead_letters() -> QuerySet[OutboxEntry]:
    """Return the dead outbox rows, newest first."""
    return OutboxEntry.objects.filter(status=OutboxStatus.DEAD).order_by("-id")


@dataclass(frozen=True)
class MarketPublishState:
    """Whether what is saved for a market (settings, rules, positions) is what the tables hold."""

    market_code: str
    saved_version: int
    published_version: int | None
    pending: int
    dead: int
    last_saved_at: datetime | None
    read_error: str

    @property
    def up_to_date(self) -> bool:
        return not self.pending and not self.dead and self.published_version == self.saved_version

    @property
    def label(self) -> str:
        if self.dead:
            return f"Publishing failed for {self.dead} change(s): see Publishing"
        if self.pending:
            return f"{self.pending} change(s) not yet published"
        if self.read_error:
            return "Published state unknown: the shared tables cannot be read"
        if self.published_version is None:
            return "Not published yet"
        if self.published_version != self.saved_version:
            return f"Saved version {self.saved_version}, published version {self.published_version}"
        return "Published"


def market_publish_state(market: Market) -> MarketPublishState:
    """Return `market`'s published-vs-saved state: one query and one read of its shared item."""
    counts = (
        OutboxEntry.objects.filter(status__in=_OPEN)
        .filter(
            Q(kind=OutboxKind.MARKET, key=market.code)
            | Q(kind=OutboxKind.POSITION, key__startswith=f"{market.code}|")
        )
        .aggregate(
            pending=Count("id", filter=Q(status=OutboxStatus.PENDING)),
            dead=Count("id", filter=Q(status=OutboxStatus.DEAD)),
            last=Max("created_at"),
        )
    )
    published: int | None = None
    read_error = ""
    try:
        item = shared_tables().get_item("markets", (market.code,))
        published = None if item is None else int(item["version"])
    except SharedTablesError as exc:  # the market page must render while the tables are down
        read_error = str(exc)
    return MarketPublishState(
        market_code=market.code,
        saved_version=market.version,
        published_version=published,
        pending=counts["pending"],
        dead=counts["dead"],
        last_saved_at=counts["last"],
        read_error=read_error,
    )


# --- the reference feed ----------------------------------------------------------------------


@dataclass(frozen=True)
class FeedEntry:
    """One item of the reference feed: what the catalogue says, and the resolver's decision."""

    content_id: str
    title: str
    url: str
    published_at: datetime
    content_type: str
    source: str
    tags: list[str]
    state: str
    decided_by: str
    boost: int
    slot: int | None
    rule_id: str | None
    reason: str
    image_blocks: list[str]


@dataclass(frozen=True)
class ReferenceFeed:
    """A resolved page of a market's feed, decided from the shared tables."""

    market: PublishedMarket
    at: datetime
    limit: int
    candidates: int
    entries: list[FeedEntry]


def _image_blocks(market_code: str, item_ids: list[int]) -> dict[int, list[str]]:
    """Return {item id: reasons} for the page's images blocked in the market (one query)."""
    found = blocked_images_by_item(item_ids, [market_code])
    return {item_id: reasons for (item_id, _), reasons in found.items()}


def reference_feed(
    *, market_code: str, at: datetime, limit: int = FEED_DEFAULT_LIMIT
) -> ReferenceFeed | None:
    """Return the first `limit` visible items of `market_code`'s feed at `at`, or None if unpublished.

    Candidates are the catalogue's most recent items published by `at` (one query: the stand-in
    for the search engine); decisions come from the shared tables through the reader, exactly
    as the public API makes them. Raises TablesUnavailable when the tables cannot be reached.
    """
    reader = shared_tables_reader()
    if reader.market(market_code) is None:
        return None
    pool = min(FEED_MAX_CANDIDATES, max(FEED_MIN_CANDIDATES, 2 * limit))
    rows = list(
        ContentItem.objects.filter(published_at__lte=at)
        .order_by("-published_at", "-id")
        .values_list(
            "upstream_id", "content_type", "source", "upstream_tags", "title", "url", "published_at", "id"
        )[:pool]
    )
    catalogue = {row[0]: row for row in rows}
    candidates = [
        Candidate(content_id=cid, content_type=ctype, source=source, tags=frozenset(tags or ()))
        for cid, ctype, source, tags, *_ in rows
    ]
    feed = reader.feed(market_code, candidates, at=at)
    if feed is None:
        return None
    page = feed.entries[:limit]
    blocks = _image_blocks(market_code, [catalogue[r.candidate.content_id][7] for r in page])
    entries = []
    for resolved in page:
        candidate, decision = resolved.candidate, resolved.decision
        _, _, _, _, title, url, published_at, item_id = catalogue[candidate.content_id]
        item_blocks = blocks.get(item_id, [])
        entries.append(
            FeedEntry(
                content_id=candidate.content_id,
                title=title,
                url=url,
                published_at=published_at,
                content_type=candidate.content_type,
                source=candidate.source,
                tags=sorted(candidate.tags),
                state=decision.state,
                decided_by=decision.decided_by,
                boost=decision.boost,
                slot=decision.slot,
                rule_id=decision.rule_id,
                reason=reason_with_image_blocks(decision.reason, item_blocks),
                image_blocks=item_blocks,
            )
        )
    return ReferenceFeed(market=feed.market, at=at, limit=limit, candidates=len(candidates), entries=entries)
