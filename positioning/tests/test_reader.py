"""The reader over a local table file, as a consumer runs it: no Django, no AWS, the package alone.

These tests run in the portal's suite and, in CI, against the built wheel in a clean venv.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import positioning
from positioning.backends import open_tables, tables_from_env
from positioning.reader import (
    SharedTablesReader,
    candidate_with_content,
    market_from_item,
    position_from_item,
)
from positioning.resolver import Candidate, resolve_feed
from positioning.schemas import SCHEMA_DIR, load_schema
from positioning.tables import SCHEMA_VERSION, PutRequest, SharedTables, SharedTablesError

AT = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
STAMP = "2026-12-01T00:00:00Z"


def market_item(**extra: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "market": "AU",
        "name": "Australia",
        "languages": ["en"],
        "timezone": "Australia/Sydney",
        "default_visibility": "visible",
        "active": True,
        "rules": [
            {
                "id": "7",
                "action": "hide",
                "match": {"tags": ["hunting"], "content_types": [], "sources": []},
                "boost": 0,
                "starts_at": None,
                "ends_at": None,
                "note": "youth protection",
            }
        ],
        "version": 3,
        "updated_at": STAMP,
        "schema_version": SCHEMA_VERSION,
    }
    item.update(extra)
    return item


def position_item(content_id: str, state: str, **extra: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "market": "AU",
        "content_id": content_id,
        "state": state,
        "boost": 0,
        "slot": None,
        "section": "",
        "starts_at": None,
        "ends_at": None,
        "reason": "",
        "version": 1,
        "updated_at": STAMP,
        "schema_version": SCHEMA_VERSION,
    }
    item.update(extra)
    return item


def content_item(content_id: str, tags: list[str]) -> dict[str, Any]:
    return {
        "content_id": content_id,
        "content_type": "video",
        "source": "wire",
        "tags": tags,
        "version": 1,
        "updated_at": STAMP,
        "schema_version": SCHEMA_VERSION,
    }


@pytest.fixture
def tables(tmp_path: Path) -> SharedTables:
    tables = open_tables("local", prefix="test-", local_path=tmp_path / "tables.sqlite3")
    tables.create_tables()
    tables.put_if_newer(
        [
            PutRequest("markets", market_item()),
            PutRequest("positions", position_item("c-2", "pinned", slot=1)),
            PutRequest("positions", position_item("c-3", "hidden", reason="legal")),
            PutRequest("positions", position_item("c-5", "promoted", boost=3)),
            # An editor tagged c-4 "hunting": the AU rule hides it although the index does not know.
            PutRequest("content", content_item("c-4", ["hunting"])),
        ]
    )
    return tables


CANDIDATES = [Candidate(f"c-{n}", "video", "wire") for n in range(1, 7)]


def test_the_reader_resolves_a_page_as_the_resolver_does(tables: SharedTables) -> None:
    # Given published AU state, when a consumer reads a page of candidates
    feed = SharedTablesReader(tables).feed("AU", CANDIDATES, at=AT)

    # Then the order is: the pin in slot 1, the promoted item, then the plain ones; hidden ones drop
    assert feed is not None
    assert [e.candidate.content_id for e in feed.entries] == ["c-2", "c-5", "c-1", "c-6"]
    reasons = {e.candidate.content_id: e.decision.reason for e in feed.entries}
    assert "slot 1" in reasons["c-2"]

    # And it agrees with the one resolver fed the same published state
    market = SharedTablesReader(tables).market("AU")
    assert market is not None
    positions, contents = SharedTablesReader(tables).lookup("AU", [c.content_id for c in CANDIDATES])
    assert "c-4" in contents and "c-2" in positions


def test_hidden_items_come_back_with_their_reasons_when_asked(tables: SharedTables) -> None:
    feed = SharedTablesReader(tables).feed("AU", CANDIDATES, at=AT, include_hidden=True)
    assert feed is not None
    hidden = {e.candidate.content_id: e.decision.reason for e in feed.entries if e.decision.state == "hidden"}
    assert set(hidden) == {"c-3", "c-4"}
    assert "youth protection" in hidden["c-4"]


def test_an_unknown_market_is_none(tables: SharedTables) -> None:
    assert SharedTablesReader(tables).feed("DE", CANDIDATES, at=AT) is None


def test_a_newer_schema_is_refused(tables: SharedTables) -> None:
    # Given a market item written by a newer contract
    tables.put_if_newer([PutRequest("markets", market_item(version=4, schema_version=SCHEMA_VERSION + 1))])
    # When a reader of this version reads it, then it refuses rather than guess
    with pytest.raises(SharedTablesError, match="schema_version"):
        SharedTablesReader(tables).feed("AU", CANDIDATES, at=AT)


def test_the_reader_opens_the_tables_the_environment_names(tmp_path: Path, tables: SharedTables) -> None:
    env = {"SHARED_TABLES_BACKEND": "local", "SHARED_TABLES_PREFIX": "test-"}
    env["SHARED_TABLES_LOCAL_PATH"] = str(tmp_path / "tables.sqlite3")
    feed = SharedTablesReader.from_env(env).feed("AU", CANDIDATES, at=AT)
    assert feed is not None and feed.entries[0].candidate.content_id == "c-2"
    assert tables_from_env(env).get_item("markets", ("AU",)) is not None


def test_the_package_version_follows_the_contract() -> None:
    # The wheel's major version is the contract's schema_version (docs/shared-tables.md)
    assert int(positioning.__version__.split(".")[0]) == SCHEMA_VERSION
    # And every table's JSON Schema ships with it and pins that version
    for table in ("markets", "positions", "content", "images"):
        assert (SCHEMA_DIR / f"{table}.json").exists()
        assert load_schema(table)["properties"]["schema_version"] == {"const": SCHEMA_VERSION}


def test_published_items_match_their_schema() -> None:
    for table, item in [
        ("markets", market_item()),
        ("positions", position_item("c-1", "hidden")),
        ("content", content_item("c-1", ["ocean"])),
    ]:
        jsonschema.validate(json.loads(json.dumps(item)), load_schema(table))


def test_resolve_feed_is_the_same_function_the_reader_uses(tables: SharedTables) -> None:
    reader = SharedTablesReader(tables)
    market = reader.market("AU")
    assert market is not None
    feed = reader.feed("AU", CANDIDATES, at=AT)
    assert feed is not None
    positions, contents = reader.lookup("AU", [c.content_id for c in CANDIDATES])
    from positioning.reader import candidate_with_content, position_from_item

    merged = [candidate_with_content(c, contents.get(c.content_id)) for c in CANDIDATES]
    specs = {cid: position_from_item(item) for cid, item in positions.items()}
    assert feed.entries == resolve_feed(market.spec, merged, specs, AT)


class SlowTables:
    """Wraps tables so that every BatchGetItem takes a round trip's time, and counts overlap."""

    def __init__(self, tables: SharedTables, delay: float = 0.05) -> None:
        import threading

        self.tables = tables
        self.delay = delay
        self.calls = 0
        self.in_flight = 0
        self.most_in_flight = 0
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.tables, name)

    def batch_get(self, keys: Any) -> Any:
        import time

        with self._lock:
            self.calls += 1
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            time.sleep(self.delay)
            return self.tables.batch_get(keys)
        finally:
            with self._lock:
                self.in_flight -= 1


def test_a_large_page_reads_its_keys_in_parallel_and_decides_the_same(tables: SharedTables) -> None:
    # Given a page of 1,000 candidates (2,000 keys: 20 BatchGetItem calls of 100)
    page = [Candidate(f"c-{n}", "video", "wire") for n in range(1, 1001)]
    slow = SlowTables(tables)
    serial = SharedTablesReader(tables, parallel_requests=1).feed("AU", page, at=AT, include_hidden=True)

    # When the reader resolves it with 10 requests in flight
    feed = SharedTablesReader(slow, parallel_requests=10).feed("AU", page, at=AT, include_hidden=True)

    # Then it made the 20 calls, several at once, and decided exactly as the one-at-a-time reader
    assert slow.calls == 20
    assert slow.most_in_flight > 1
    assert feed is not None and serial is not None
    assert feed.entries == serial.entries


_MISSING = object()


@pytest.mark.parametrize("schema_version", [0, -1, SCHEMA_VERSION + 1, None, _MISSING, "1", 1.5, True])
def test_an_unknown_schema_version_is_refused_for_every_item(schema_version: Any) -> None:
    # Given items whose schema_version is not one this reader knows (0, missing, a string, …)
    def shaped(item: dict[str, Any]) -> dict[str, Any]:
        if schema_version is _MISSING:
            item.pop("schema_version")
        else:
            item["schema_version"] = schema_version
        return item

    # When the reader reads them, then it refuses each rather than guess (docs/shared-tables.md)
    with pytest.raises(SharedTablesError, match="schema_version"):
        market_from_item(shaped(market_item()))
    with pytest.raises(SharedTablesError, match="schema_version"):
        position_from_item(shaped(position_item("c-1", "hidden")))
    with pytest.raises(SharedTablesError, match="schema_version"):
        candidate_with_content(CANDIDATES[0], shaped(content_item("c-1", ["ocean"])))


def test_a_known_schema_version_is_read_also_as_a_dynamodb_decimal() -> None:
    # DynamoDB hands numbers back as Decimal
    assert market_from_item(market_item(schema_version=Decimal(SCHEMA_VERSION))).version == 3
    assert position_from_item(position_item("c-1", "hidden", schema_version=Decimal(SCHEMA_VERSION)))
