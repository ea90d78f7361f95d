"""Read a market's feed decisions from the shared tables, as the public Content API does.

Importable without Django (stdlib, `positioning.resolver` and boto3 on first use only), so another
team's Lambda can vendor `portal/shared_tables/{backends,dynamodb,local,reader}.py` and
`positioning/resolver.py` and call:

    reader = SharedTablesReader.from_env()          # SHARED_TABLES_BACKEND / _PREFIX, AWS_*
    feed = reader.feed("AU", candidates, at=now)    # candidates: the search engine's page
    for entry in feed.entries:                      # visible items, in order, with reasons
        entry.candidate.content_id, entry.decision.state, entry.decision.reason

Per feed: one GetItem for the market item (cached for `market_ttl_seconds` per process), then
BatchGetItem for the candidates' positions and `content` items (≤ 100 keys a request, so one
request for a page of up to 50 candidates; unprocessed keys retried with backoff). The content
items' tags (upstream tags plus editors' additions minus their removals) replace the candidates'
own, and the one resolver (`positioning.resolver`) decides and orders the page.
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
from positioning.resolver import Candidate, MarketSpec, PositionSpec, Resolved, RuleSpec, resolve_feed
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
    "market_from_item",
    "position_from_item",
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


@dataclass(frozen=True, slots=True)
class Feed:
    """A resolved page: the visible candidates in order, each with its decision and reason."""

    market: PublishedMarket
    at: datetime
    entries: list[Resolved]


def _time(value: Any) -> datetime | None:
    return None if value in (None, "") else datetime.fromisoformat(str(value))


# The item shapes this reader understands; anything else (a newer contract, a missing or
# malformed version, 0) is refused rather than guessed at (docs/shared-tables.md).
KNOWN_SCHEMA_VERSIONS = frozenset({SCHEMA_VERSION})


def _check_schema(item: Mapping[str, Any]) -> None:
    raw: Any = item.get("schema_version")
    # DynamoDB numbers arrive as Decimal (Decimal(1) == 1); a bool, a string or 1.5 is no version.
    known = not isinstance(raw, bool) and any(raw == v for v in KNOWN_SCHEMA_VERSIONS)
    if not known or isinstance(raw, str):
        versions = ", ".join(str(v) for v in sorted(KNOWN_SCHEMA_VERSIONS))
        raise SharedTablesError(
            f"Item written with schema_version {raw!r}; this reader knows only {versions}."
        )


def market_from_item(item: Mapping[str, Any]) -> PublishedMarket:
    """Return the published market of a `markets` item; raises SharedTablesError on a newer schema."""
    _check_schema(item)
    rules = tuple(
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
        )
        for rule in item.get("rules", ())
    )
    return PublishedMarket(
        spec=MarketSpec(
            code=str(item["market"]), default_visibility=str(item["default_visibility"]), rules=rules
        ),
        name=str(item.get("name", "")),
        active=bool(item.get("active", True)),
        languages=tuple(item.get("languages", ())),
        timezone=str(item.get("timezone", "UTC")),
        version=int(item["version"]),
        updated_at=_time(item.get("updated_at")),
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
        self._markets: dict[str, tuple[float, PublishedMarket | None]] = {}
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

    def market(self, code: str) -> PublishedMarket | None:
        """Return the published market `code` (cached a few seconds), or None if there is none.

        Raises TablesUnavailable when the tables cannot be reached.
        """
        now = self._clock()
        cached = self._markets.get(code)
        if cached is not None and cached[0] > now:
            return cached[1]
        item = self.tables.get_item("markets", (code,))
        market = None if item is None else market_from_item(item)
        with self._lock:
            self._markets[code] = (now + self.market_ttl_seconds, market)
        return market

    def lookup(self, market: str, content_ids: Sequence[str]) -> tuple[dict[str, Item], dict[str, Item]]:
        """Return (positions, content items) stored for `content_ids` in `market`, by content id.

        Reads ≤ 100 keys per BatchGetItem (one request for up to 50 distinct content ids); the
        requests of a larger page run in parallel, at most `parallel_requests` at once, each
        retrying its own unprocessed keys with backoff.
        """
        keys: list[ItemKey] = []
        for content_id in dict.fromkeys(content_ids):
            keys.append(("positions", (market, content_id)))
            keys.append(("content", (content_id,)))
        chunks = [
            keys[start : start + MAX_BATCH_GET_KEYS] for start in range(0, len(keys), MAX_BATCH_GET_KEYS)
        ]
        if len(chunks) > 1 and self.parallel_requests > 1:
            answers = list(self._executor().map(self.tables.batch_get, chunks))
        else:
            answers = [self.tables.batch_get(chunk) for chunk in chunks]
        positions: dict[str, Item] = {}
        contents: dict[str, Item] = {}
        for answer in answers:
            for (table, values), item in answer.items():
                (positions if table == "positions" else contents)[values[-1]] = item
        return positions, contents

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
        positions, contents = self.lookup(market, [c.content_id for c in candidates])
        merged = [candidate_with_content(c, contents.get(c.content_id)) for c in candidates]
        specs = {content_id: position_from_item(item) for content_id, item in positions.items()}
        entries = resolve_feed(published.spec, merged, specs, at, include_hidden=include_hidden)
        return Feed(market=published, at=at, entries=entries)
