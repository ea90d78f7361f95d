"""Read a market's feed decisions from the shared tables, as the public Content API does.

Importable without Django (stdlib, `positioning.resolver` and boto3 on first use only), so another
team's Lambda can vendor `portal/shared_tables/{backends,dynamodb,local,reader}.py` and
`positioning/resolver.py` and call:

    reader = SharedTablesReader.from_env()          # SHARED_TABLES_BACKEND / _PREFIX, AWS_*
    feed = reader.feed("AU", candidates, at=now)    # candidates: the search engine's page
    for entry in feed.entries:                      # visible items, in order, with reasons
        entry.candidate.content_id, entry.decision.state, entry.decision.reason

Per feed: one GetItem for the market item and one BatchGetItem for the items of the groups it
lists (both cached for `market_ttl_seconds` per process), then BatchGetItem for the candidates'
positions in the market and in each of its groups and their `content` items (≤ 100 keys a
request, so one request for a page of up to 50 candidates of a market in no group; the requests
of a larger page run in parallel; unprocessed keys retried with backoff). The content items' tags
(upstream tags plus editors' additions minus their removals) replace the candidates' own, their
rights travel with them, and the one resolver (`positioning.resolver`) decides and orders the
page through steps 0-6.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from positioning.backends import tables_from_env
from positioning.resolver import (
    Candidate,
    GroupSpec,
    MarketSpec,
    PositionSpec,
    Resolved,
    Rights,
    RuleSpec,
    resolve_feed,
)
from positioning.tables import (
    MAX_BATCH_GET_KEYS,
    SCHEMA_VERSION,
    Item,
    ItemKey,
    SharedTables,
    SharedTablesError,
)

__all__ = [
    "Feed",
    "PublishedMarket",
    "SharedTablesReader",
    "candidate_with_content",
    "group_from_item",
    "is_group_item",
    "market_from_item",
    "position_from_item",
    "rights_from_item",
]


@dataclass(frozen=True, slots=True)
class PublishedMarket:
    """A market as published: the resolver's spec plus the settings the public API shows."""

    spec: MarketSpec
    name: str
    active: bool
    languages: tuple[str, ...]
    timezone: str
    version: int
    updated_at: datetime | None
    # The codes the market item lists, strongest first; `spec.groups` holds those published.
    group_codes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Feed:
    """A resolved page: the visible candidates in order, each with its decision and reason."""

    market: PublishedMarket
    at: datetime
    entries: list[Resolved]


def _time(value: Any) -> datetime | None:
    return None if value in (None, "") else datetime.fromisoformat(str(value))


# The item shapes this reader understands; anything else (a newer contract, a missing or
# malformed version, 0) is refused rather than guessed at (docs/shared-tables.md). Version 1
# items (before groups, rights and binding rules) read as having none of them.
KNOWN_SCHEMA_VERSIONS = frozenset({1, SCHEMA_VERSION})


def _check_schema(item: Mapping[str, Any]) -> None:
    raw: Any = item.get("schema_version")
    # DynamoDB numbers arrive as Decimal (Decimal(1) == 1); a bool, a string or 1.5 is no version.
    known = not isinstance(raw, bool) and any(raw == v for v in KNOWN_SCHEMA_VERSIONS)
    if not known or isinstance(raw, str):
        versions = ", ".join(str(v) for v in sorted(KNOWN_SCHEMA_VERSIONS))
        raise SharedTablesError(
            f"Item written with schema_version {raw!r}; this reader knows only {versions}."
        )


def _rules_from(item: Mapping[str, Any]) -> tuple[RuleSpec, ...]:
    return tuple(
        RuleSpec(
            id=str(rule["id"]),
            action=str(rule["action"]),
            tags=frozenset(rule.get("match", {}).get("tags", ())),
            content_types=frozenset(rule.get("match", {}).get("content_types", ())),
            sources=frozenset(rule.get("match", {}).get("sources", ())),
            boost=int(rule.get("boost") or 0),
            starts_at=_time(rule.get("starts_at")),
            ends_at=_time(rule.get("ends_at")),
            note=str(rule.get("note") or ""),
            binding=bool(rule.get("binding", False)),
        )
        for rule in item.get("rules", ())
    )


def is_group_item(item: Mapping[str, Any]) -> bool:
    """Return whether a `markets` item is a market group's rather than a market's."""
    return item.get("kind") == "group"


def market_from_item(item: Mapping[str, Any], groups: Sequence[GroupSpec] = ()) -> PublishedMarket:
    """Return the published market of a `markets` item; raises SharedTablesError on a newer schema.

    `groups` are the specs of the groups the item lists (see group_from_item); a group missing
    from them (not published yet, or retired) has no say.
    """
    _check_schema(item)
    if is_group_item(item):
        raise SharedTablesError(f"{item.get('market')!r} is a market group, not a market.")
    return PublishedMarket(
        spec=MarketSpec(
            code=str(item["market"]),
            default_visibility=str(item["default_visibility"]),
            rules=_rules_from(item),
            groups=tuple(groups),
        ),
        name=str(item.get("name", "")),
        active=bool(item.get("active", True)),
        languages=tuple(item.get("languages", ())),
        timezone=str(item.get("timezone", "UTC")),
        version=int(item["version"]),
        updated_at=_time(item.get("updated_at")),
        group_codes=tuple(str(code) for code in item.get("groups", ())),
    )


def group_from_item(item: Mapping[str, Any]) -> GroupSpec | None:
    """Return the resolver's view of a group's `markets` item, or None if the group is retired."""
    _check_schema(item)
    if not is_group_item(item):
        raise SharedTablesError(f"{item.get('market')!r} is a market, not a market group.")
    if not item.get("active", True):
        return None
    return GroupSpec(
        code=str(item["market"]),
        priority=int(item["priority"]),
        rules=_rules_from(item),
        name=str(item.get("name", "")),
    )


def rights_from_item(value: Any) -> Rights | None:
    """Return a `content` item's rights attribute as the resolver's Rights (None: unrestricted)."""
    if not value:
        return None
    return Rights(
        allow=frozenset(value.get("allow") or ()),
        deny=frozenset(value.get("deny") or ()),
        starts_at=_time(value.get("starts_at")),
        ends_at=_time(value.get("ends_at")),
    )


def position_from_item(item: Mapping[str, Any]) -> PositionSpec:
    """Return the resolver's view of a `positions` item."""
    _check_schema(item)
    slot = item.get("slot")
    return PositionSpec(
        content_id=str(item["content_id"]),
        state=str(item["state"]),
        boost=int(item.get("boost") or 0),
        slot=None if slot is None else int(slot),
        starts_at=_time(item.get("starts_at")),
        ends_at=_time(item.get("ends_at")),
        reason=str(item.get("reason") or ""),
        updated_at=_time(item.get("updated_at")),
    )


def candidate_with_content(candidate: Candidate, item: Mapping[str, Any] | None) -> Candidate:
    """Return `candidate` with the type, source and tags Meridian publishes for it, if any.

    Meridian's tags replace the candidate's own: they already hold the upstream tags plus the
    editors' additions minus their removals, and a removal must win over the search index.
    """
    if item is None:
        return candidate
    _check_schema(item)
    return Candidate(
        content_id=candidate.content_id,
        content_type=str(item.get("content_type") or candidate.content_type),
        source=str(item.get("source") or candidate.source),
        tags=frozenset(item.get("tags", ())),
        rights=rights_from_item(item.get("rights")),
    )


class SharedTablesReader:
    """Reads markets, positions and content items from the shared tables and resolves feeds."""

    def __init__(
        self,
        tables: SharedTables,
        *,
        market_ttl_seconds: float = 5.0,
        parallel_requests: int = 10,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.tables = tables
        self.market_ttl_seconds = market_ttl_seconds
        # BatchGetItem calls of one feed in flight at once: a page of 1,000 candidates is 20
        # calls, and one after another they would cost 20 round trips instead of about two.
        self.parallel_requests = max(1, parallel_requests)
        self._clock = clock
        # Markets by code, and groups by "group:" + code, each with its expiry.
        self._markets: dict[str, tuple[float, PublishedMarket | GroupSpec | None]] = {}
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SharedTablesReader:
        """Return a reader over the tables the environment names (positioning.backends.tables_from_env)."""
        tables = tables_from_env(environ)
        env = os.environ if environ is None else environ
        return cls(
            tables,
            market_ttl_seconds=float(env.get("SHARED_TABLES_MARKET_TTL", "5")),
            parallel_requests=int(env.get("SHARED_TABLES_READ_THREADS", "10")),
        )

    def _executor(self) -> ThreadPoolExecutor:
        # Created on first use and kept for the process (a Lambda container reuses it).
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=self.parallel_requests, thread_name_prefix="shared-tables-read"
                )
            return self._pool

    def clear_cache(self) -> None:
        """Forget the cached market items."""
        with self._lock:
            self._markets.clear()

    def _cached(self, code: str, now: float) -> tuple[bool, Any]:
        cached = self._markets.get(code)
        if cached is not None and cached[0] > now:
            return True, cached[1]
        return False, None

    def market(self, code: str) -> PublishedMarket | None:
        """Return the published market `code` with its groups (cached a few seconds), or None.

        None when there is no such market (a group's code is no market either). Raises
        TablesUnavailable when the tables cannot be reached.
        """
        now = self._clock()
        hit, value = self._cached(code, now)
        if hit:
            market: PublishedMarket | None = value
            return market
        item = self.tables.get_item("markets", (code,))
        market = None
        if item is not None and not is_group_item(item):
            market = market_from_item(item)
            if market.group_codes:
                groups = self._groups(market.group_codes, now)
                spec = MarketSpec(
                    code=market.spec.code,
                    default_visibility=market.spec.default_visibility,
                    rules=market.spec.rules,
                    groups=groups,
                )
                market = PublishedMarket(
                    spec=spec,
                    name=market.name,
                    active=market.active,
                    languages=market.languages,
                    timezone=market.timezone,
                    version=market.version,
                    updated_at=market.updated_at,
                    group_codes=market.group_codes,
                )
        with self._lock:
            self._markets[code] = (now + self.market_ttl_seconds, market)
        return market

    def _groups(self, codes: Sequence[str], now: float) -> tuple[GroupSpec, ...]:
        # The groups' items share the market cache (keyed "group:" + code), fetched together.
        found: dict[str, GroupSpec | None] = {}
        missing: list[str] = []
        for code in codes:
            hit, value = self._cached("group:" + code, now)
            if hit:
                found[code] = value
            else:
                missing.append(code)
        if missing:
            answer = self.tables.batch_get([("markets", (code,)) for code in missing])
            with self._lock:
                for code in missing:
                    item = answer.get(("markets", (code,)))
                    group = group_from_item(item) if item is not None and is_group_item(item) else None
                    found[code] = group
                    self._markets["group:" + code] = (now + self.market_ttl_seconds, group)
        return tuple(group for code in codes if (group := found.get(code)) is not None)

    def lookup(
        self, market: str, content_ids: Sequence[str], groups: Sequence[str] = ()
    ) -> tuple[dict[str, Item], dict[str, Item], dict[str, dict[str, Item]]]:
        """Return (positions, content items, group positions) stored for `content_ids`.

        Positions of `market` and content items by content id; group positions by group code,
        then content id. Reads ≤ 100 keys per BatchGetItem (one request for up to 50 distinct
        content ids of a market in no group); the requests of a larger page run in parallel, at
        most `parallel_requests` at once, each retrying its own unprocessed keys with backoff.
        """
        keys: list[ItemKey] = []
        for content_id in dict.fromkeys(content_ids):
            keys.append(("positions", (market, content_id)))
            keys.append(("content", (content_id,)))
            keys.extend(("positions", (group, content_id)) for group in groups)
        chunks = [
            keys[start : start + MAX_BATCH_GET_KEYS] for start in range(0, len(keys), MAX_BATCH_GET_KEYS)
        ]
        if len(chunks) > 1 and self.parallel_requests > 1:
            answers = list(self._executor().map(self.tables.batch_get, chunks))
        else:
            answers = [self.tables.batch_get(chunk) for chunk in chunks]
        positions: dict[str, Item] = {}
        contents: dict[str, Item] = {}
        by_group: dict[str, dict[str, Item]] = {}
        for answer in answers:
            for (table, values), item in answer.items():
                if table == "content":
                    contents[values[0]] = item
                elif values[0] == market:
                    positions[values[1]] = item
                else:
                    by_group.setdefault(values[0], {})[values[1]] = item
        return positions, contents, by_group

    def feed(
        self,
        market: str,
        candidates: Sequence[Candidate],
        *,
        at: datetime | None = None,
        include_hidden: bool = False,
    ) -> Feed | None:
        """Resolve a page of candidates in `market` at `at` (default now), or None if no such market.

        Raises TablesUnavailable when the tables cannot be reached; ValueError on a naive `at`.
        """
        at = datetime.now(UTC) if at is None else at
        if at.tzinfo is None:
            raise ValueError("`at` must be timezone-aware.")
        published = self.market(market)
        if published is None:
            return None
        groups = [group.code for group in published.spec.groups]
        positions, contents, by_group = self.lookup(market, [c.content_id for c in candidates], groups)
        merged = [candidate_with_content(c, contents.get(c.content_id)) for c in candidates]
        specs = {content_id: position_from_item(item) for content_id, item in positions.items()}
        group_specs = {
            group: {content_id: position_from_item(item) for content_id, item in items.items()}
            for group, items in by_group.items()
        }
        entries = resolve_feed(
            published.spec,
            merged,
            specs,
            at,
            group_positions=group_specs,
            include_hidden=include_hidden,
        )
        return Feed(market=published, at=at, entries=entries)
