"""Shared-table items built from committed database state: one query per batch and kind.

The publisher never trusts a payload: an outbox row only names an item (kind + key), and the
item is rebuilt here from what the database holds now, at the row's current version. Builders
are registered per OutboxKind, so another area adds its item type (the `images` table) with
`register_builder(ItemBuilder(kind=OutboxKind.IMAGE, table="images", ...))` from its app's
`ready()`, plus a JSON Schema in `positioning/schemas/images.json`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from content.models import ContentItem, GroupPosition, Position
from markets.codes import market_code_error
from markets.models import GroupMember, GroupRule, Market, MarketGroup
from portal.shared_tables.keys import position_key
from portal.shared_tables.models import OutboxKind
from positioning.items import group_item, iso, market_item, rights_entry, rule_entry
from positioning.tables import (
    SCHEMA_VERSION,
    Item,
    SharedTables,
)

__all__ = [
    "ItemBuilder",
    "builder_for",
    "builders",
    "iso",
    "register_builder",
]

# Keys per reconcile chunk: bounded memory and SQL parameter counts.
KEY_CHUNK = 500


@dataclass(frozen=True)
class ItemBuilder:
    """How one OutboxKind becomes items of one shared table.

    `build(keys)` returns the items for the outbox keys that still exist in the database, in
    one query; `db_keys(market)` yields every key the database projects (of one market, for
    market-scoped kinds; nothing when a market is given for the others); `key_of(item)` is the
    outbox key of a stored item; `table_items(tables, market)` reads what the table holds.
    """

    kind: str
    table: str
    build: Callable[[Sequence[str]], dict[str, Item]]
    db_keys: Callable[[str | None], Iterable[str]]
    key_of: Callable[[Mapping[str, Any]], str]
    market_scoped: bool
    table_items: Callable[[SharedTables, str | None], Iterable[Item]] | None = None

    def stored_items(self, tables: SharedTables, market: str | None) -> Iterable[Item]:
        """Return the table's items (of `market`, for market-scoped kinds)."""
        if self.table_items is not None:
            return self.table_items(tables, market)
        if market is not None and not self.market_scoped:
            return ()
        return tables.scan(self.table)


_BUILDERS: dict[str, ItemBuilder] = {}


def register_builder(builder: ItemBuilder) -> None:
    """Make the publisher and reconcile handle `builder.kind` (replaces an earlier builder)."""
    _BUILDERS[str(builder.kind)] = builder


def builder_for(kind: str) -> ItemBuilder | None:
    """Return the builder registered for `kind`, or None."""
    return _BUILDERS.get(str(kind))


def builders() -> list[ItemBuilder]:
    """Return every registered builder, in registration order."""
    return list(_BUILDERS.values())


# --- markets ---------------------------------------------------------------------------------


_RULE_COLUMNS = (
    "rules__id",
    "rules__action",
    "rules__match_tags",
    "rules__match_content_types",
    "rules__match_sources",
    "rules__boost",
    "rules__starts_at",
    "rules__ends_at",
    "rules__note",
    "rules__binding",
)


def build_markets(keys: Sequence[str]) -> dict[str, Item]:
    """Return the `markets` items of the market and group codes `keys` (a group's item is keyed by
    its code, which no market can have): three queries for markets, three for groups."""
    market_keys = [key for key in keys if is_market_code(key)]
    group_keys = [key for key in keys if not is_market_code(key)]
    items = _build_market_items(market_keys) if market_keys else {}
    if group_keys:
        items.update(build_groups(group_keys))
    return items


def is_market_code(code: str) -> bool:
    """Whether a `markets`/`positions` key is a market's (else a group's: group codes are never
    valid market codes, markets/codes.py)."""
    return market_code_error(code) is None


def _market_groups(codes: Sequence[str]) -> dict[str, list[str]]:
    """The active groups of each market code, in (priority, code) order (one query)."""
    groups: dict[str, list[str]] = defaultdict(list)
    rows = (
        GroupMember.objects.filter(market__code__in=list(codes), group__active=True)
        .order_by("group__priority", "group__code")
        .values_list("market__code", "group__code")
    )
    for market_code, group_code in rows:
        groups[market_code].append(group_code)
    return groups


def _build_market_items(keys: Sequence[str]) -> dict[str, Item]:
    rows = (
        Market.objects.filter(code__in=list(keys))
        .order_by("code", "rules__id")
        .values_list(
            "code",
            "name",
            "languages",
            "timezone",
            "default_visibility",
            "active",
            "version",
            "updated_at",
            *_RULE_COLUMNS,
        )
    )
    heads: dict[str, tuple[Any, ...]] = {}
    rules: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        code = row[0]
        heads.setdefault(code, row[:8])
        rule_id, action, tags, types, sources, boost, starts_at, ends_at, note, binding = row[8:]
        if rule_id is not None:
            rules[code].append(
                rule_entry(
                    rule_id=rule_id,
                    action=action,
                    match_tags=tags,
                    match_content_types=types,
                    match_sources=sources,
                    boost=boost,
                    starts_at=starts_at,
                    ends_at=ends_at,
                    note=note,
                    binding=binding,
                )
            )
    groups = _market_groups(list(heads)) if heads else {}
    items = {}
    for code, (_, name, languages, timezone, visibility, active, version, updated_at) in heads.items():
        item = market_item(
            code=code,
            name=name,
            languages=languages,
            timezone=timezone,
            default_visibility=visibility,
            active=active,
            version=version,
            updated_at=updated_at,
            rules=rules.get(code, []),
            groups=groups.get(code, []),
        )
        items[code] = item
    return items


def build_groups(keys: Sequence[str]) -> dict[str, Item]:
    """Return the `markets` items of the group codes `keys`, with members and rules (3 queries)."""
    groups = list(MarketGroup.objects.filter(code__in=list(keys)).order_by("code"))
    if not groups:
        return {}
    members: dict[int, list[str]] = defaultdict(list)
    for group_id, market_code in GroupMember.objects.filter(group__in=groups).values_list(
        "group_id", "market__code"
    ):
        members[group_id].append(market_code)
    rules: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for rule in GroupRule.objects.filter(group__in=groups).order_by("id"):
        entry = rule_entry(
            rule_id=rule.pk,
            action=rule.action,
            match_tags=rule.match_tags,
            match_content_types=rule.match_content_types,
            match_sources=rule.match_sources,
            boost=rule.boost,
            starts_at=rule.starts_at,
            ends_at=rule.ends_at,
            note=rule.note,
            binding=rule.binding,
        )
        rules[rule.group_id].append(entry)
    return {
        group.code: group_item(
            code=group.code,
            name=group.name,
            priority=group.priority,
            members=members.get(group.pk, []),
            active=group.active,
            version=group.version,
            updated_at=group.updated_at,
            rules=rules.get(group.pk, []),
        )
        for group in groups
    }


def _market_keys(market: str | None) -> Iterator[str]:
    queryset = Market.objects.order_by("code")
    groups = MarketGroup.objects.order_by("code")
    if market is not None:
        queryset = queryset.filter(code=market)
        groups = groups.filter(code=market)
    yield from queryset.values_list("code", flat=True)
    yield from groups.values_list("code", flat=True)


def _stored_markets(tables: SharedTables, market: str | None) -> Iterable[Item]:
    if market is None:
        return tables.scan("markets")
    item = tables.get_item("markets", (market,))
    return [] if item is None else [item]


_POSITION_COLUMNS = (
    "market__code",
    "item__upstream_id",
    "state",
    "boost",
    "slot",
    "section",
    "starts_at",
    "ends_at",
    "reason",
    "version",
    "updated_at",
)


def position_item(row: Sequence[Any]) -> Item:
    """Return the `positions` item of one row of _POSITION_COLUMNS."""
    code, content_id, state, boost, slot, section, starts_at, ends_at, reason, version, updated_at = row
    return {
        "market": code,
        "content_id": content_id,
        "state": state,
        "boost": int(boost or 0),
        "slot": None if slot is None else int(slot),
        "section": section or "",
        "starts_at": iso(starts_at),
        "ends_at": iso(ends_at),
        "reason": reason or "",
        "version": int(version),
        "updated_at": iso(updated_at),
        "schema_version": SCHEMA_VERSION,
    }


def split_position_key(key: str) -> tuple[str, str]:
    """Return (market code, content id) of a position's outbox key `MARKET|content_id`."""
    code, _, content_id = key.partition("|")
    return code, content_id


_GROUP_POSITION_COLUMNS = (
    "group__code",
    "item__upstream_id",
    "state",
    "boost",
    "section",
    "starts_at",
    "ends_at",
    "reason",
    "version",
    "updated_at",
)


def _group_position_rows(codes: set[str], content_ids: set[str]) -> Iterator[tuple[Any, ...]]:
    """Group positions as rows of _POSITION_COLUMNS (a group position has no slot)."""
    rows = GroupPosition.objects.filter(group__code__in=codes, item__upstream_id__in=content_ids)
    for code, content_id, state, boost, section, *rest in rows.values_list(*_GROUP_POSITION_COLUMNS):
        yield (code, content_id, state, boost, None, section, *rest)


def build_positions(keys: Sequence[str]) -> dict[str, Item]:
    """Return the `positions` items of the keys `MARKET|content_id` or `GROUP|content_id` (one
    query for market positions, one for group positions when the keys name a group)."""
    wanted = set(keys)
    codes = {split_position_key(key)[0] for key in wanted}
    content_ids = {split_position_key(key)[1] for key in wanted}
    market_codes = {code for code in codes if is_market_code(code)}
    rows: list[Any] = []
    if market_codes:
        rows.extend(
            Position.objects.filter(
                market__code__in=market_codes, item__upstream_id__in=content_ids
            ).values_list(*_POSITION_COLUMNS)
        )
    if codes - market_codes:
        rows.extend(_group_position_rows(codes - market_codes, content_ids))
    items = {}
    for row in rows:
        # Markets x content ids can select pairs nobody asked for; keep the asked ones.
        key = position_key(row[0], row[1])
        if key in wanted:
            items[key] = position_item(row)
    return items


def _position_keys(market: str | None) -> Iterator[str]:
    queryset = Position.objects.order_by("market__code", "item__upstream_id")
    if market is not None:
        queryset = queryset.filter(market__code=market)
    for code, content_id in queryset.values_list("market__code", "item__upstream_id").iterator(
        chunk_size=2000
    ):
        yield position_key(code, content_id)
    group_rows = GroupPosition.objects.order_by("group__code", "item__upstream_id")
    if market is not None:
        group_rows = group_rows.filter(group__code=market)
    for code, content_id in group_rows.values_list("group__code", "item__upstream_id").iterator(
        chunk_size=2000
    ):
        yield position_key(code, content_id)


def _stored_positions(tables: SharedTables, market: str | None) -> Iterable[Item]:
    return tables.scan("positions") if market is None else tables.query_partition("positions", market)


# --- content ---------------------------------------------------------------------------------


def build_content(keys: Sequence[str]) -> dict[str, Item]:
    """Return the `content` items of the upstream ids `keys`, with effective tags (one query)."""
    rows = (
        ContentItem.objects.filter(upstream_id__in=list(keys))
        .order_by("upstream_id")
        .values_list(
            "upstream_id",
            "content_type",
            "source",
            "version",
            "updated_at",
            "rights_allow",
            "rights_deny",
            "rights_starts_at",
            "rights_ends_at",
            "item_tags__tag__slug",
        )
    )
    items: dict[str, Item] = {}
    for content_id, content_type, source, version, updated_at, allow, deny, starts, ends, slug in rows:
        item = items.get(content_id)
        if item is None:
            item = items[content_id] = {
                "content_id": content_id,
                "content_type": content_type,
                "source": source,
                "tags": [],
                # Upstream licensing; None: the item may appear everywhere, always.
                "rights": rights_entry(allow=allow or (), deny=deny or (), starts_at=starts, ends_at=ends),
                "version": int(version),
                "updated_at": iso(updated_at),
                "schema_version": SCHEMA_VERSION,
            }
        if slug is not None:
            item["tags"].append(slug)
    for item in items.values():
        item["tags"].sort()
    return items


def _content_keys(market: str | None) -> Iterator[str]:
    if market is not None:
        return
    yield from (
        ContentItem.objects.order_by("upstream_id")
        .values_list("upstream_id", flat=True)
        .iterator(chunk_size=2000)
    )


register_builder(
    ItemBuilder(
        kind=OutboxKind.MARKET,
        table="markets",
        build=build_markets,
        db_keys=_market_keys,
        key_of=lambda item: str(item["market"]),
        market_scoped=True,
        table_items=_stored_markets,
    )
)
register_builder(
    ItemBuilder(
        kind=OutboxKind.POSITION,
        table="positions",
        build=build_positions,
        db_keys=_position_keys,
        key_of=lambda item: position_key(str(item["market"]), str(item["content_id"])),
        market_scoped=True,
        table_items=_stored_positions,
    )
)
register_builder(
    ItemBuilder(
        kind=OutboxKind.CONTENT,
        table="content",
        build=build_content,
        db_keys=_content_keys,
        key_of=lambda item: str(item["content_id"]),
        market_scoped=False,
    )
)
