"""The content board's query: filters, sort orders and keyset ("more") pagination.

At a million items neither OFFSET paging nor a COUNT(*) per page view is affordable, so the
board pages on (sort key, id) with an opaque cursor, fetches one row more than it shows to know
whether a next page exists, and only counts when asked (capped).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Exists, F, OuterRef, Q, QuerySet

from content.models import ContentItem, ItemTag, Position, PositionState
from content.selectors import ItemState, item_states
from markets.models import Market
from portal.bounds import datetime_range_error

# Sort name -> (model field, descending). Every key is indexed, so a page is an index range scan.
SORTS: dict[str, tuple[str, bool]] = {
    "newest": ("published_at", True),
    "oldest": ("published_at", False),
    "upstream_id": ("upstream_id", False),
}
SORT_LABELS = {"newest": "Newest first", "oldest": "Oldest first", "upstream_id": "Upstream id (A–Z)"}
PAGE_SIZES = (25, 50, 100, 200)
DEFAULT_PAGE_SIZE = 50
# Rows of the sort order a title search scans before widening (see _fetch).
SEARCH_WINDOWS = (20_000, 200_000)
# The annotation a market-state filter sorts by: the position's copy of published_at.
POSITION_SORT_KEY = "position_published_at"
# Bulk "all matching the filter" and the on-demand count stop here.
MATCH_CAP = 10_000
# "none" = no override in window; the others are position states in window.
STATE_FILTERS = {
    "hidden": "Hidden by a position",
    "shown": "Shown by a position",
    "promoted": "Promoted by a position",
    "pinned": "Pinned by a position",
    "none": "No position (rules and default decide)",
}


class BadCursor(ValueError):
    """The page cursor in the URL is not one this board issued."""


@dataclass(frozen=True)
class BoardFilter:
    """What the board shows: the filters of its form, already parsed and validated."""

    query: str = ""
    content_types: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    published_from: datetime | None = None
    published_to: datetime | None = None
    market: Market | None = None
    state: str = ""
    sort: str = "newest"
    page_size: int = DEFAULT_PAGE_SIZE

    @property
    def narrows(self) -> bool:
        """Whether any filter narrows the full table (the sort and page size do not)."""
        return bool(
            self.query
            or self.content_types
            or self.sources
            or self.tags
            or self.languages
            or self.published_from
            or self.published_to
            or (self.state and self.market is not None)
        )


def sort_key_field(board: BoardFilter) -> str:
    """Return the field the board's pages are keyed and ordered by under `board`'s filters."""
    key_field = SORTS[board.sort][0]
    if key_field == "published_at" and board.market is not None and board.state not in ("", "none"):
        return POSITION_SORT_KEY
    return key_field


def _in_window(at: datetime, prefix: str = "") -> Q:
    return (Q(**{f"{prefix}starts_at__isnull": True}) | Q(**{f"{prefix}starts_at__lte": at})) & (
        Q(**{f"{prefix}ends_at__isnull": True}) | Q(**{f"{prefix}ends_at__gt": at})
    )


def board_queryset(board: BoardFilter, *, at: datetime) -> QuerySet[ContentItem]:
    """Return the items matching `board`'s filters, unordered (the pager orders them)."""
    qs = ContentItem.objects.all()
    query = board.query.strip()
    if query:
        qs = qs.filter(Q(upstream_id=query) | Q(title__icontains=query))
    if board.content_types:
        qs = qs.filter(content_type__in=board.content_types)
    if board.sources:
        qs = qs.filter(source__in=board.sources)
    if board.languages:
        qs = qs.filter(language__in=board.languages)
    if board.tags:
        # EXISTS instead of a join: no DISTINCT, so the sort index still drives the page.
        qs = qs.filter(Exists(ItemTag.objects.filter(item=OuterRef("pk"), tag__slug__in=board.tags)))
    if board.published_from:
        qs = qs.filter(published_at__gte=board.published_from)
    if board.published_to:
        qs = qs.filter(published_at__lt=board.published_to)
    if board.market is not None and board.state:
        if board.state == "none":
            current = Position.objects.filter(market=board.market).filter(_in_window(at))
            qs = qs.filter(~Exists(current.filter(item=OuterRef("pk")).exclude(state=PositionState.DEFAULT)))
        else:
            # One join to the market's position (one row per item and market, so no duplicates),
            # all conditions in one filter() so they share it; the sort key is read from the
            # position too, so that position_state_recent_idx (market, state, recency) serves the
            # filter and the order together: a page reads its rows in order and stops.
            in_state = Q(positions__market=board.market, positions__state=board.state)
            qs = qs.filter(in_state & _in_window(at, "positions__")).annotate(
                **{POSITION_SORT_KEY: F("positions__item_published_at")}
            )
    return qs


# --- cursors ---------------------------------------------------------------------------------


def encode_cursor(sort: str, item: ContentItem) -> str:
    """Return the opaque cursor of `item` under `sort` (its sort key and id)."""
    key_field, _ = SORTS[sort]
    value: Any = getattr(item, key_field)
    if isinstance(value, datetime):
        value = value.isoformat()
    raw = json.dumps([sort, value, item.pk], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(sort: str, cursor: str) -> tuple[Any, int]:
    """Return (sort key value, id) from a cursor. Raises BadCursor when it is not valid for `sort`."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        cursor_sort, value, pk = json.loads(raw)
    except (binascii.Error, ValueError, TypeError, RecursionError) as exc:
        raise BadCursor(cursor) from exc
    # A forged cursor must not reach the database with an id past bigint or a time past year 9999.
    if cursor_sort != sort or not isinstance(pk, int) or not 0 <= pk < 2**63:
        raise BadCursor(cursor)
    if SORTS[sort][0] == "published_at":
        try:
            value = datetime.fromisoformat(value)
        except (TypeError, ValueError) as exc:
            raise BadCursor(cursor) from exc
        if datetime_range_error(value):
            raise BadCursor(cursor)
    elif not isinstance(value, str) or "\x00" in value:
        raise BadCursor(cursor)
    return value, pk


def _beyond(key_field: str, value: Any, pk: int, *, forward_is_desc: bool) -> Q:
    # (key, id) strictly past the cursor in the walking direction. The redundant `key <= value`
    # (or >=) lets PostgreSQL turn the OR into an index range scan instead of a filter.
    op, eq = ("lt", "lte") if forward_is_desc else ("gt", "gte")
    return Q(**{f"{key_field}__{eq}": value}) & (
        Q(**{f"{key_field}__{op}": value}) | Q(**{key_field: value, f"pk__{op}": pk})
    )


@dataclass
class BoardPage:
    """One page of the board: its items (in order) and the cursors around it."""

    items: list[ContentItem]
    next_cursor: str = ""
    prev_cursor: str = ""
    states: dict[int, ItemState] = field(default_factory=dict)

    @property
    def has_next(self) -> bool:
        return bool(self.next_cursor)

    @property
    def has_prev(self) -> bool:
        return bool(self.prev_cursor)


def _fetch(
    queryset: QuerySet[ContentItem],
    base: QuerySet[ContentItem],
    *,
    key_field: str,
    walking_desc: bool,
    order: tuple[str, str],
    size: int,
    windows: Sequence[int],
) -> list[ContentItem]:
    """Return up to size + 1 matching rows in `order`, scanning bounded windows first.

    A substring search cannot use an index, and PostgreSQL underestimates how often it matches,
    so it plans a full scan and a sort. Walking the sort index a window at a time finds a common
    term's first page in a few thousand rows; a rare term widens the window and, at worst, ends
    in the full scan it would have done anyway.
    """
    for window in windows:
        bound = base.order_by(*order).values_list(key_field, flat=True)[window : window + 1].first()
        if bound is None:
            break  # the rest of the table is smaller than the window: just query it
        lookup = f"{key_field}__gte" if walking_desc else f"{key_field}__lte"
        rows = list(queryset.filter(**{lookup: bound}).order_by(*order)[: size + 1])
        if len(rows) > size:
            return rows
    return list(queryset.order_by(*order)[: size + 1])


def _with_tags(items: list[ContentItem]) -> list[ContentItem]:
    """Attach each item's tag slugs (`item.tag_slugs`, in slug order): one query for the page.

    prefetch_related("tags") would build a related queryset per item, ≈ 3 ms for a page of 50,
    a tenth of the page; the board shows and resolves slugs only.
    """
    by_item: dict[int, list[str]] = {item.pk: [] for item in items}
    if items:
        rows = (
            ItemTag.objects.filter(item_id__in=list(by_item))
            .order_by("tag__slug")
            .values_list("item_id", "tag__slug")
        )
        for item_id, slug in rows:
            by_item[item_id].append(slug)
    for item in items:
        item.tag_slugs = by_item[item.pk]
    return items


def board_page(
    queryset: QuerySet[ContentItem],
    *,
    sort: str,
    size: int,
    after: str = "",
    before: str = "",
    windows: Sequence[int] = (),
    key_field: str = "",
) -> BoardPage:
    """Return the page after (or before) a cursor, tags prefetched: two queries (more when
    `windows` asks for a windowed scan, see _fetch).

    `key_field` overrides the sort's field with an annotation of `queryset` holding the same
    values (see sort_key_field); the cursors stay those of the sort. Raises BadCursor on a
    cursor this board did not issue.
    """
    sort_field, desc = SORTS[sort]
    base = ContentItem.objects.all()
    if key_field and key_field != sort_field:
        # The annotated key already walks a bounded index range: no windowed scan, whose base
        # (the whole table) would not know the annotation.
        windows, base = (), queryset
    key_field = key_field or sort_field
    order = (f"-{key_field}", "-pk") if desc else (key_field, "pk")
    reverse_order = (key_field, "pk") if desc else (f"-{key_field}", "-pk")
    if before:
        value, pk = decode_cursor(sort, before)
        past = _beyond(key_field, value, pk, forward_is_desc=not desc)
        rows = _fetch(
            queryset.filter(past),
            base.filter(past),
            key_field=key_field,
            walking_desc=not desc,
            order=reverse_order,
            size=size,
            windows=windows,
        )
        more_before = len(rows) > size
        items = _with_tags(list(reversed(rows[:size])))
        page = BoardPage(items=items)
        if items:
            page.next_cursor = encode_cursor(sort, items[-1])
            if more_before:
                page.prev_cursor = encode_cursor(sort, items[0])
        return page
    if after:
        value, pk = decode_cursor(sort, after)
        past = _beyond(key_field, value, pk, forward_is_desc=desc)
        queryset, base = queryset.filter(past), base.filter(past)
    rows = _fetch(
        queryset, base, key_field=key_field, walking_desc=desc, order=order, size=size, windows=windows
    )
    items = _with_tags(rows[:size])
    page = BoardPage(items=items)
    if len(rows) > size:
        page.next_cursor = encode_cursor(sort, items[-1])
    if after and items:
        page.prev_cursor = encode_cursor(sort, items[0])
    return page


def board_resolve(page: BoardPage, *, market: Market, at: datetime) -> BoardPage:
    """Attach each item's resolved state in `market` at `at`: two queries for the whole page."""
    page.states = item_states(market, page.items, at)
    return page


# --- counting without COUNT(*) over the whole table ------------------------------------------


def estimated_total() -> int | None:
    """Return the planner's estimate of the number of items (PostgreSQL), else None."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
            [ContentItem._meta.db_table],
        )
        row = cursor.fetchone()
    # -1 means "never analysed": no estimate rather than a wrong one.
    return int(row[0]) if row and row[0] >= 0 else None


def capped_count(queryset: QuerySet[ContentItem], cap: int = MATCH_CAP) -> int:
    """Return the number of matches, counting at most `cap` + 1 rows (cap + 1 means "more")."""
    return queryset.order_by()[: cap + 1].count()


def matching_ids(queryset: QuerySet[ContentItem], cap: int = MATCH_CAP) -> list[int]:
    """Return the ids of up to `cap` + 1 matches in board order (cap + 1 means "too many")."""
    return list(queryset.order_by("-published_at", "-pk").values_list("pk", flat=True)[: cap + 1])


def split_terms(raw: str | Sequence[str]) -> tuple[str, ...]:
    """Return the distinct, stripped, non-empty terms of a comma-separated input (or a list)."""
    parts = raw.split(",") if isinstance(raw, str) else [p for chunk in raw for p in chunk.split(",")]
    return tuple(dict.fromkeys(p.strip() for p in parts if p.strip()))
