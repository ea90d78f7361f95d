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
        "kind": "market",
        "groups": [],
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
                "binding": False,
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
        "rights": None,
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
    positions, contents, _ = SharedTablesReader(tables).lookup("AU", [c.content_id for c in CANDIDATES])
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
    positions, contents, _ = reader.lookup("AU", [c.content_id for c in CANDIDATES])
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


# --- Groups, rights and binding rules (schema_version 2) ----------------------------------------


def group_item(
    code: str, priority: int, rules: list[dict[str, Any]] | None = None, **extra: Any
) -> dict[str, Any]:
    from positioning.items import group_item as build

    item = build(
        code=code,
        name=code.title(),
        priority=priority,
        members=["AU", "NZ"],
        active=True,
        version=2,
        updated_at=AT,
        rules=rules or [],
    )
    item.update(extra)
    return item


def hunting_rule(rule_id: str, *, binding: bool) -> dict[str, Any]:
    from positioning.items import rule_entry

    return rule_entry(
        rule_id=rule_id,
        action="hide",
        match_tags=["gore"],
        match_content_types=[],
        match_sources=[],
        boost=0,
        starts_at=None,
        ends_at=None,
        note="court order",
        binding=binding,
    )


@pytest.fixture
def grouped(tables: SharedTables) -> SharedTables:
    # AU is in OCEANIA (priority 1) and APAC (priority 5); APAC has a binding rule; rights on c-6.
    from positioning.items import rights_entry

    tables.put_if_newer(
        [
            PutRequest("markets", market_item(version=5, groups=["OCEANIA", "APAC"])),
            PutRequest("markets", group_item("OCEANIA", 1)),
            PutRequest("markets", group_item("APAC", 5, [hunting_rule("40", binding=True)])),
            PutRequest("markets", group_item("RETIRED", 0, active=False)),
            # OCEANIA promotes c-1 and shows c-3 (which AU's own position hides).
            PutRequest("positions", position_item("c-1", "promoted", boost=9, market="OCEANIA")),
            PutRequest("positions", position_item("c-3", "shown", market="OCEANIA")),
            PutRequest("positions", position_item("c-6", "promoted", boost=4, market="APAC")),
            PutRequest("positions", position_item("c-1", "hidden", market="RETIRED")),
            PutRequest("content", content_item("c-2", ["gore"])),
            PutRequest("content", content_item("c-6", []) | {"rights": rights_entry(deny=["AU"])}),
        ]
    )
    return tables


def test_the_reader_applies_groups_rights_and_binding_rules_as_the_resolver_does(
    grouped: SharedTables,
) -> None:
    # Given AU in two groups, a binding APAC rule, group positions and an item not licensed in AU
    reader = SharedTablesReader(grouped)

    # When a page is read
    feed = reader.feed("AU", CANDIDATES, at=AT, include_hidden=True)

    # Then each step decides where it should, and says so
    assert feed is not None
    by_id = {e.candidate.content_id: e.decision for e in feed.entries}
    assert [g.code for g in feed.market.spec.groups] == ["OCEANIA", "APAC"]
    assert (by_id["c-1"].state, by_id["c-1"].source, by_id["c-1"].step) == ("promoted", "OCEANIA", 3)
    # APAC's binding rule hides c-2 although AU pins it: step 1 beats every position.
    assert (by_id["c-2"].state, by_id["c-2"].step, by_id["c-2"].binding) == ("hidden", 1, True)
    assert by_id["c-2"].reason == "Hidden by group APAC rule #40 (binding): tags gore (court order)"
    # the market's own hidden position beats OCEANIA's shown one
    assert (by_id["c-3"].state, by_id["c-3"].step) == ("hidden", 2)
    assert (by_id["c-6"].decided_by, by_id["c-6"].reason) == ("rights", "Not licensed in AU")
    # a retired group has no say, even when the market item still lists it
    assert "RETIRED" not in {g.code for g in feed.market.spec.groups}

    # And it is exactly the resolver over the same published state
    positions, contents, by_group = reader.lookup(
        "AU", [c.content_id for c in CANDIDATES], ["OCEANIA", "APAC"]
    )
    merged = [candidate_with_content(c, contents.get(c.content_id)) for c in CANDIDATES]
    specs = {cid: position_from_item(item) for cid, item in positions.items()}
    group_specs = {
        g: {cid: position_from_item(i) for cid, i in items.items()} for g, items in by_group.items()
    }
    expected = resolve_feed(
        feed.market.spec, merged, specs, AT, group_positions=group_specs, include_hidden=True
    )
    assert feed.entries == expected


def test_the_groups_of_a_market_are_read_in_one_batch_and_cached(grouped: SharedTables) -> None:
    # Given a reader counting its calls
    counting = SlowTables(grouped, delay=0)
    reader = SharedTablesReader(counting)  # type: ignore[arg-type]

    # When the market is read twice
    first = reader.market("AU")
    second = reader.market("AU")

    # Then its two groups came in one BatchGetItem, and the second read hit the cache
    assert first is second and first is not None
    assert counting.calls == 1


def test_a_group_code_is_no_market(grouped: SharedTables) -> None:
    assert SharedTablesReader(grouped).feed("OCEANIA", CANDIDATES, at=AT) is None
    with pytest.raises(SharedTablesError, match="market group"):
        market_from_item(group_item("OCEANIA", 1))


def test_items_of_schema_version_1_still_read_as_having_no_groups_rights_or_binding() -> None:
    # Given items written before groups existed (no kind, groups, binding or rights)
    old = market_item(schema_version=1)
    for key in ("kind", "groups"):
        old.pop(key)
    old["rules"][0].pop("binding")
    content = content_item("c-1", ["news"]) | {"schema_version": 1}
    content.pop("rights")

    # When read, then they mean what they meant
    market = market_from_item(old)
    assert market.spec.groups == () and market.spec.rules[0].binding is False
    assert candidate_with_content(Candidate("c-1"), content).rights is None


def test_group_items_and_rights_match_their_schemas() -> None:
    from positioning.items import rights_entry

    jsonschema.validate(
        json.loads(json.dumps(group_item("DACH", 2, [hunting_rule("7", binding=True)]))),
        load_schema("markets"),
    )
    jsonschema.validate(
        json.loads(json.dumps(position_item("c-1", "shown", market="DACH"))), load_schema("positions")
    )
    with_rights = content_item("c-1", []) | {"rights": rights_entry(allow=["DE", "AT"], starts_at=AT)}
    jsonschema.validate(json.loads(json.dumps(with_rights)), load_schema("content"))
    assert rights_entry() is None
    # A market item naming priority, or a group item naming languages, is refused
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(json.loads(json.dumps(market_item(priority=1))), load_schema("markets"))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(
            json.loads(json.dumps(group_item("EU", 1, languages=["en"]))), load_schema("markets")
        )
    # A promote rule cannot bind
    promote = hunting_rule("8", binding=True) | {"action": "promote", "boost": 2}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(json.loads(json.dumps(market_item(rules=[promote]))), load_schema("markets"))
