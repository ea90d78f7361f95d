"""Reads for content: search, resolved states per market, preview, the item's matrix."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Prefetch, Q, QuerySet

from content.models import ContentItem, Position, PositionState, Tag
from markets.models import Market
from markets.resolver import (
    Candidate,
    Decision,
    MarketResolver,
    PositionSpec,
    Resolved,
    resolve_feed,
)
from markets.selectors import market_spec, market_specs

# Preview candidates: the most recent items, as a recency-ordered search would return them.
PREVIEW_POOL = 500


def with_tags(queryset: QuerySet[ContentItem]) -> QuerySet[ContentItem]:
    """Prefetch each item's effective tags (one extra query per page)."""
    return queryset.prefetch_related(Prefetch("tags", queryset=Tag.objects.only("id", "slug", "label")))


def candidate(item: ContentItem) -> Candidate:
    """Return the resolver's view of an item (its tags must be prefetched)."""
    return Candidate(
        content_id=item.upstream_id,
        content_type=item.content_type,
        source=item.source,
        tags=frozenset(t.slug for t in item.tags.all()),
    )


def position_spec(position: Position, content_id: str) -> PositionSpec:
    """Return the resolver's view of a position."""
    author = position.author.get_username() if position.author_id and position.author else ""
    return PositionSpec(
        content_id=content_id,
        state=position.state,
        boost=position.boost,
        slot=position.slot,
        starts_at=position.starts_at,
        ends_at=position.ends_at,
        reason=position.reason,
        author=author,
        updated_at=position.updated_at,
    )


def positions_by_item(market: Market, items: Sequence[ContentItem]) -> dict[int, Position]:
    """Return `market`'s positions of `items`, keyed by item pk (one query)."""
    return {
        p.item_id: p
        for p in Position.objects.filter(market=market, item__in=[i.pk for i in items]).select_related(
            "author"
        )
    }


@dataclass(frozen=True)
class ItemState:
    """An item's state in one market: its stored position (if any) and the resolver's decision."""

    item: ContentItem
    position: Position | None
    decision: Decision


def item_states(market: Market, items: Sequence[ContentItem], at: datetime) -> dict[int, ItemState]:
    """Resolve each item in `market` at `at`; items need their tags prefetched. Two queries."""
    resolver = MarketResolver(market_spec(market), at)
    positions = positions_by_item(market, items)
    states: dict[int, ItemState] = {}
    for item in items:
        position = positions.get(item.pk)
        spec = position_spec(position, item.upstream_id) if position else None
        states[item.pk] = ItemState(item, position, resolver.decide(candidate(item), spec))
    return states


@dataclass(frozen=True)
class MarketCell:
    """One market's row in an item's market × state matrix."""

    market: Market
    position: Position | None
    decision: Decision


def item_matrix(*, markets: Iterable[Market], item: ContentItem, at: datetime) -> list[MarketCell]:
    """Resolve one item in each of `markets` (rules and positions read in two queries)."""
    markets = list(markets)
    specs = market_specs(markets)
    positions = {
        p.market_id: p
        for p in Position.objects.filter(item=item, market__in=markets).select_related("author")
    }
    cand = candidate(item)
    cells = []
    for market in markets:
        position = positions.get(market.pk)
        spec = position_spec(position, item.upstream_id) if position else None
        cells.append(MarketCell(market, position, MarketResolver(specs[market.pk], at).decide(cand, spec)))
    return cells


def market_preview(
    *, market: Market, at: datetime, limit: int = 50, include_hidden: bool = False, pool: int = PREVIEW_POOL
) -> list[Resolved]:
    """Return what users of `market` see at `at`: the first `limit` items in resolved order.

    Candidates are the `pool` most recent items published by `at` plus every item with a
    position in the market, in recency order, as the app's recency feed would deliver them.
    """
    recent_ids = list(
        ContentItem.objects.filter(published_at__lte=at)
        .order_by("-published_at", "-id")
        .values_list("id", flat=True)[:pool]
    )
    positioned_ids = list(
        Position.objects.filter(market=market, item__published_at__lte=at)
        .exclude(state=PositionState.DEFAULT)
        .values_list("item_id", flat=True)
    )
    items = list(
        with_tags(ContentItem.objects.filter(id__in=set(recent_ids) | set(positioned_ids))).order_by(
            "-published_at", "-id"
        )
    )
    positions = positions_by_item(market, items)
    resolved = resolve_feed(
        market_spec(market),
        [candidate(i) for i in items],
        {
            by_item.upstream_id: position_spec(positions[by_item.pk], by_item.upstream_id)
            for by_item in items
            if by_item.pk in positions
        },
        at,
        include_hidden=include_hidden,
    )
    visible = [r for r in resolved if r.decision.visible][:limit]
    if include_hidden:
        visible += [r for r in resolved if not r.decision.visible]
    return visible


def content_search(
    *,
    query: str = "",
    content_types: Sequence[str] = (),
    sources: Sequence[str] = (),
    tags: Sequence[str] = (),
    languages: Sequence[str] = (),
    published_from: datetime | None = None,
    published_to: datetime | None = None,
    market: Market | None = None,
    position_state: str = "",
) -> QuerySet[ContentItem]:
    """Return items matching the filters (no ordering or paging applied beyond the default).

    `position_state` filters on the stored position in `market` ("none" = no override).
    """
    qs = ContentItem.objects.all()
    if query:
        qs = qs.filter(Q(upstream_id=query.strip()) | Q(title__icontains=query.strip()))
    if content_types:
        qs = qs.filter(content_type__in=content_types)
    if sources:
        qs = qs.filter(source__in=sources)
    if languages:
        qs = qs.filter(language__in=languages)
    if tags:
        qs = (
            qs.filter(item_tags__tag__slug__in=tags).distinct()
            if len(tags) > 1
            else qs.filter(item_tags__tag__slug=tags[0])
        )
    if published_from:
        qs = qs.filter(published_at__gte=published_from)
    if published_to:
        qs = qs.filter(published_at__lt=published_to)
    if market is not None and position_state:
        if position_state == "none":
            qs = qs.exclude(
                id__in=Position.objects.filter(market=market)
                .exclude(state=PositionState.DEFAULT)
                .values("item_id")
            )
        else:
            qs = qs.filter(positions__market=market, positions__state=position_state)
    return qs


def content_get(*, upstream_id: str) -> ContentItem:
    """Return the item with `upstream_id`, tags prefetched. Raises ContentItem.DoesNotExist."""
    return with_tags(ContentItem.objects.all()).get(upstream_id=upstream_id)
