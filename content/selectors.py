"""Reads for content: search, resolved states per market, preview, the item's matrix."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Prefetch, Q, QuerySet

from content.models import ContentItem, GroupPosition, Position, PositionState, Tag
from markets.models import Market, MarketGroup
from markets.selectors import market_spec, market_specs
from positioning.resolver import (
    STEP_BINDING_RULE,
    STEP_RIGHTS,
    Candidate,
    Decision,
    MarketResolver,
    MarketSpec,
    PositionSpec,
    Resolved,
    Rights,
    resolve_feed,
)

# Preview candidates: the most recent items, as a recency-ordered search would return them.
PREVIEW_POOL = 500


def with_tags(queryset: QuerySet[ContentItem]) -> QuerySet[ContentItem]:
    """Prefetch each item's effective tags (one extra query per page)."""
    return queryset.prefetch_related(Prefetch("tags", queryset=Tag.objects.only("id", "slug", "label")))


def rights_spec(item: ContentItem) -> Rights | None:
    """Return the resolver's view of an item's rights (None when it may appear everywhere, always)."""
    if not item.has_rights:
        return None
    return Rights(
        allow=frozenset(item.rights_allow),
        deny=frozenset(item.rights_deny),
        starts_at=item.rights_starts_at,
        ends_at=item.rights_ends_at,
    )


def tag_slugs(item: ContentItem) -> list[str]:
    """The item's tag slugs: those the board fetched for its page, else its (prefetched) tags."""
    fetched: list[str] | None = item.__dict__.get("tag_slugs")
    return fetched if fetched is not None else [t.slug for t in item.tags.all()]


def candidate(item: ContentItem) -> Candidate:
    """Return the resolver's view of an item with its rights (its tags must be prefetched)."""
    return Candidate(
        content_id=item.upstream_id,
        content_type=item.content_type,
        source=item.source,
        tags=frozenset(tag_slugs(item)),
        rights=rights_spec(item),
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


# What resolving and showing a page's positions read: a whole row and its author's whole user row
# cost a page of 50 positioned items ≈ 2 ms in parsing alone (dates, the user's columns).
POSITION_PAGE_FIELDS = (
    "id",
    "market_id",
    "item_id",
    "state",
    "boost",
    "slot",
    "section",
    "starts_at",
    "ends_at",
    "reason",
    "version",
    "updated_at",
    "author__id",
    "author__username",
)


def positions_by_item(market: Market, items: Sequence[ContentItem]) -> dict[int, Position]:
    """Return `market`'s positions of `items`, keyed by item pk (one query)."""
    return {
        p.item_id: p
        for p in Position.objects.filter(market=market, item__in=[i.pk for i in items])
        .select_related("author")
        .only(*POSITION_PAGE_FIELDS)
    }


def group_position_spec(position: GroupPosition, content_id: str) -> PositionSpec:
    """Return the resolver's view of a group position (never pinned, so no slot)."""
    author = position.author.get_username() if position.author_id and position.author else ""
    return PositionSpec(
        content_id=content_id,
        state=position.state,
        boost=position.boost,
        starts_at=position.starts_at,
        ends_at=position.ends_at,
        reason=position.reason,
        author=author,
        updated_at=position.updated_at,
    )


def group_positions_for(
    specs: Iterable[MarketSpec], items: Sequence[ContentItem]
) -> dict[str, dict[str, PositionSpec]]:
    """Return the positions of `items` in the groups of the markets `specs`, as the resolver
    takes them: {group code: {content id: position}} (one query; none when no market has groups)."""
    codes = {group.code for spec in specs for group in spec.groups}
    if not codes or not items:
        return {}
    found: dict[str, dict[str, PositionSpec]] = {}
    rows = (
        GroupPosition.objects.filter(group__code__in=codes, item__in=[i.pk for i in items])
        .exclude(state=PositionState.DEFAULT)
        .select_related("group", "item", "author")
    )
    for position in rows:
        content_id = position.item.upstream_id
        found.setdefault(position.group.code, {})[content_id] = group_position_spec(position, content_id)
    return found


def group_positions_of(
    group_positions: dict[str, dict[str, PositionSpec]], content_id: str
) -> dict[str, PositionSpec]:
    """One item's group positions, {group code: position}, as `MarketResolver.decide` takes them."""
    return {code: by_id[content_id] for code, by_id in group_positions.items() if content_id in by_id}


@dataclass(frozen=True)
class ItemState:
    """An item's state in one market: its stored position (if any) and the resolver's decision."""

    item: ContentItem
    position: Position | None
    decision: Decision


def item_states(market: Market, items: Sequence[ContentItem], at: datetime) -> dict[int, ItemState]:
    """Resolve each item in `market` at `at`; items need their tags prefetched. Three queries,
    five when the market is in groups (their rules and positions)."""
    market_input = market_spec(market)
    resolver = MarketResolver(market_input, at)
    positions = positions_by_item(market, items)
    in_groups = group_positions_for([market_input], items)
    states: dict[int, ItemState] = {}
    for item in items:
        position = positions.get(item.pk)
        spec = position_spec(position, item.upstream_id) if position else None
        decision = resolver.decide(candidate(item), spec, group_positions_of(in_groups, item.upstream_id))
        states[item.pk] = ItemState(item, position, decision)
    return states


@dataclass(frozen=True)
class MarketCell:
    """One market's row in an item's market × state matrix."""

    market: Market
    position: Position | None
    decision: Decision
    # Images of the item blocked in this market by moderation: the item still shows, without them.
    image_blocks: tuple[str, ...] = ()


def item_matrix(*, markets: Iterable[Market], item: ContentItem, at: datetime) -> list[MarketCell]:
    """Resolve one item in each of `markets` (rules and positions read in two queries)."""
    markets = list(markets)
    specs = market_specs(markets)
    positions = {
        p.market_id: p
        for p in Position.objects.filter(item=item, market__in=markets).select_related("author")
    }
    blocks = image_blocks_by_item(items=[item], markets=markets)
    in_groups = group_positions_of(group_positions_for(specs.values(), [item]), item.upstream_id)
    cand = candidate(item)
    cells = []
    for market in markets:
        position = positions.get(market.pk)
        spec = position_spec(position, item.upstream_id) if position else None
        decision = MarketResolver(specs[market.pk], at).decide(cand, spec, in_groups)
        cells.append(MarketCell(market, position, decision, tuple(blocks.get((item.pk, market.pk), ()))))
    return cells


# Position states an override (rights, a binding rule) can defeat: hiding is what they do anyway.
_SHOWING_STATES = frozenset({PositionState.SHOWN, PositionState.PROMOTED, PositionState.PINNED})


@dataclass(frozen=True)
class Override:
    """(market, item) pairs a position will not show: rights or a binding rule decide first."""

    market_code: str
    reason: str  # "binding rule DE #7", "not licensed in FR", "not licensed in DE until 2027-01-01"
    count: int
    examples: tuple[str, ...] = ()


def _override_reason(decision: Decision, market_code: str) -> str | None:
    if decision.step == STEP_RIGHTS:
        return decision.reason[:1].lower() + decision.reason[1:]
    if decision.step == STEP_BINDING_RULE:
        return f"binding rule {decision.source or market_code} #{decision.rule_id}"
    return None


def positions_overridden(
    *, markets: Sequence[Market], item_ids: Sequence[int], state: str, at: datetime, examples: int = 5
) -> list[Override]:
    """Return, per market and reason, the items whose `state` position in `markets` will still be
    hidden at `at`: rights (step 0) and binding rules (step 1) come before every position.

    The one resolver decides (no second implementation): a decision at step 0 or 1 is the same
    whatever the item's position. Nothing for hide or reset. Items in chunks of 1,000; markets'
    rules in one query.
    """
    if state not in _SHOWING_STATES or not markets or not item_ids:
        return []
    specs = _specs(markets)
    resolvers = [(m.code, MarketResolver(spec, at)) for m, spec in zip(markets, specs, strict=True)]
    # Without a binding rule only rights can override: read just the items that have some.
    any_binding = any(
        rule.binding for spec in specs for rule in (*spec.rules, *(r for g in spec.groups for r in g.rules))
    )
    found: dict[tuple[str, str], list[str]] = {}
    ids = list(dict.fromkeys(item_ids))
    for start in range(0, len(ids), 1000):
        chunk = ContentItem.objects.filter(pk__in=ids[start : start + 1000])
        if not any_binding:
            chunk = chunk.filter(_HAS_RIGHTS)
        items = with_tags(chunk).order_by("-published_at", "-id")
        for item in items:
            cand = candidate(item)
            for code, resolver in resolvers:
                reason = _override_reason(resolver.decide(cand, None), code)
                if reason is not None:
                    found.setdefault((code, reason), []).append(item.upstream_id)
    return [
        Override(market_code=code, reason=reason, count=len(hit), examples=tuple(hit[:examples]))
        for (code, reason), hit in sorted(found.items())
    ]


_HAS_RIGHTS = (
    ~Q(rights_allow=[])
    | ~Q(rights_deny=[])
    | Q(rights_starts_at__isnull=False)
    | Q(rights_ends_at__isnull=False)
)


def _specs(markets: Sequence[Market]) -> list[MarketSpec]:
    specs = market_specs(markets)
    return [specs[m.pk] for m in markets]


def image_blocks_by_item(
    *, items: Sequence[ContentItem], markets: Iterable[Market]
) -> dict[tuple[int, int], list[str]]:
    """Return {(item pk, market pk): reasons} for the items' images blocked in `markets` (one query)."""
    # Imported here: image selectors import this module's models, and most pages never need them.
    from content.labels.selectors import blocked_images_by_item

    return blocked_images_by_item(items, markets)


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
    market_input = market_spec(market)
    positioned_ids = list(
        Position.objects.filter(market=market, item__published_at__lte=at)
        .exclude(state=PositionState.DEFAULT)
        .values_list("item_id", flat=True)
    )
    if market_input.groups:
        # Items the market's groups position are candidates too, as the market's own are.
        positioned_ids += (
            GroupPosition.objects.filter(
                group__code__in=[g.code for g in market_input.groups], item__published_at__lte=at
            )
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
        market_input,
        [candidate(i) for i in items],
        {
            by_item.upstream_id: position_spec(positions[by_item.pk], by_item.upstream_id)
            for by_item in items
            if by_item.pk in positions
        },
        at,
        group_positions=group_positions_for([market_input], items),
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


# --- portal pages (appended) -------------------------------------------------------------------


@dataclass(frozen=True)
class MarketCounts:
    """A market's current overrides (positions in window) and active rules, for the dashboard."""

    market: Market
    hidden: int = 0
    shown: int = 0
    promoted: int = 0
    pinned: int = 0
    rules: int = 0


def market_dashboard_counts(
    *, markets: Sequence[Market], at: datetime, all_markets: bool = False
) -> list[MarketCounts]:
    """Return per market the items hidden/shown/promoted/pinned by a position in window at `at`
    and the active rules: two GROUP BY queries whatever the number of markets.

    `all_markets` says `markets` is every market, so the queries need no IN list.
    """
    from django.db.models import Count

    from markets.selectors import active_rule_counts

    positions = Position.objects.exclude(state=PositionState.DEFAULT).filter(
        Q(starts_at__isnull=True) | Q(starts_at__lte=at), Q(ends_at__isnull=True) | Q(ends_at__gt=at)
    )
    if not all_markets:
        positions = positions.filter(market__in=[m.pk for m in markets])
    by_market: dict[int, dict[str, int]] = {}
    for row in positions.values("market_id", "state").annotate(n=Count("id")):
        by_market.setdefault(row["market_id"], {})[row["state"]] = row["n"]
    rules = active_rule_counts(markets=None if all_markets else markets, at=at)
    return [
        MarketCounts(
            market=m,
            hidden=by_market.get(m.pk, {}).get(PositionState.HIDDEN, 0),
            shown=by_market.get(m.pk, {}).get(PositionState.SHOWN, 0),
            promoted=by_market.get(m.pk, {}).get(PositionState.PROMOTED, 0),
            pinned=by_market.get(m.pk, {}).get(PositionState.PINNED, 0),
            rules=rules.get(m.pk, 0),
        )
        for m in markets
    ]


def market_pins(*, market: Market) -> QuerySet[Position]:
    """Return the market's pinned positions in slot order (then window start), items joined."""
    return (
        Position.objects.filter(market=market, state=PositionState.PINNED)
        .select_related("item", "author")
        .order_by("slot", "starts_at", "id")
    )


def content_facets() -> dict[str, list[str]]:
    """Return the known sources, languages and tag slugs for filter suggestions (cached 10 min).

    DISTINCT over millions of rows is slow, so PostgreSQL walks the indexes with a loose index
    scan (one index probe per distinct value), and every backend caches the answer.
    """
    from django.core.cache import cache
    from django.db import connection

    cached: dict[str, list[str]] | None = cache.get("content:facets")
    if cached is not None:
        return cached
    table = ContentItem._meta.db_table
    facets: dict[str, list[str]] = {}
    for column in ("source", "language"):
        if connection.vendor == "postgresql":
            sql = (
                f'WITH RECURSIVE walk(v) AS ((SELECT "{column}" FROM "{table}" ORDER BY 1 LIMIT 1) '
                f'UNION ALL SELECT (SELECT "{column}" FROM "{table}" WHERE "{column}" > walk.v '
                f"ORDER BY 1 LIMIT 1) FROM walk WHERE walk.v IS NOT NULL) "
                f"SELECT v FROM walk WHERE v IS NOT NULL LIMIT 500"
            )
            with connection.cursor() as cursor:
                cursor.execute(sql)
                facets[column] = [row[0] for row in cursor.fetchall()]
        else:
            facets[column] = list(
                ContentItem.objects.order_by(column).values_list(column, flat=True).distinct()[:500]
            )
    facets["tag"] = list(Tag.objects.order_by("slug").values_list("slug", flat=True)[:1000])
    cache.set("content:facets", facets, 600)
    return facets


def preview_rows(
    *, market: Market, resolved: Sequence[Resolved]
) -> list[tuple[Resolved, ContentItem | None, list[str]]]:
    """Pair each resolved entry with its item and the item's images blocked in `market` (two queries)."""
    items = ContentItem.objects.filter(upstream_id__in=[r.candidate.content_id for r in resolved]).only(
        "id", "upstream_id", "title", "content_type", "source", "published_at"
    )
    by_id = {item.upstream_id: item for item in items}
    blocks = image_blocks_by_item(items=list(by_id.values()), markets=[market])
    rows = []
    for entry in resolved:
        item = by_id.get(entry.candidate.content_id)
        rows.append((entry, item, blocks.get((item.pk, market.pk), []) if item else []))
    return rows


def existing_tag_slugs(slugs: Iterable[str]) -> set[str]:
    """Return the slugs among `slugs` that name existing tags (one query)."""
    return set(Tag.objects.filter(slug__in=list(slugs)).values_list("slug", flat=True))


def group_position_list(*, group: MarketGroup, limit: int = 100) -> list[GroupPosition]:
    """Return the group's stored positions other than default, newest change first (one query)."""
    return list(
        GroupPosition.objects.filter(group=group)
        .exclude(state=PositionState.DEFAULT)
        .select_related("item", "author")
        .order_by("-updated_at", "-id")[:limit]
    )
