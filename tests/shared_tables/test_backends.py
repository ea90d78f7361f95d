"""The shared-tables contract, held by both backends: the local SQLite file and DynamoDB (moto server)."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from positioning.tables import (
    MAX_BATCH_GET_KEYS,
    MAX_ITEM_BYTES,
    PutRequest,
    PutStatus,
    SharedTables,
    item_size,
)


def position(content_id: str, version: int, market: str = "AU", **extra: Any) -> dict[str, Any]:
    return {"market": market, "content_id": content_id, "state": "hidden", "version": version, **extra}


def test_create_tables_is_idempotent_and_uses_the_prefix(tables: SharedTables) -> None:
    # Given tables already created (by the fixture)
    # When they are created again
    created = tables.create_tables()

    # Then nothing new is created, and every name carries the prefix
    assert created == []
    assert tables.table_name("positions") == f"{tables.prefix}positions"


def test_a_put_writes_and_a_get_reads_the_same_item(tables: SharedTables) -> None:
    # Given an item with nested values, nulls and an empty string
    item = position("c-1", 1, slot=None, reason="", match={"tags": ["a", "b"]}, boost=3, active=True)

    # When it is put
    [result] = tables.put_if_newer([PutRequest("positions", item)])

    # Then it is written, costs one request and one write unit, and reads back unchanged
    assert (result.status, result.requests, result.consumed_wcu) == (PutStatus.WRITTEN, 1, 1.0)
    assert tables.get_item("positions", ("AU", "c-1")) == item
    assert tables.get_item("positions", ("AU", "nope")) is None


def test_a_stale_version_never_overwrites_a_newer_one(tables: SharedTables) -> None:
    # Given version 5 stored
    tables.put_if_newer([PutRequest("positions", position("c-1", 5, reason="newest"))])

    # When versions 4 and 1 arrive late
    results = tables.put_if_newer(
        [PutRequest("positions", position("c-1", 4)), PutRequest("positions", position("c-1", 1))]
    )

    # Then both count as done (superseded) and version 5 stays
    assert [r.status for r in results] == [PutStatus.SUPERSEDED, PutStatus.SUPERSEDED]
    assert all(r.done for r in results)
    assert tables.get_item("positions", ("AU", "c-1"))["reason"] == "newest"  # type: ignore[index]


def test_a_duplicate_write_is_harmless(tables: SharedTables) -> None:
    # Given version 2 stored
    tables.put_if_newer([PutRequest("content", {"content_id": "c-1", "version": 2, "tags": ["a"]})])

    # When the same version is written again with other content (a bug or a replay)
    [result] = tables.put_if_newer(
        [PutRequest("content", {"content_id": "c-1", "version": 2, "tags": ["b"]})]
    )

    # Then nothing changes
    assert result.status == PutStatus.SUPERSEDED
    assert tables.get_item("content", ("c-1",)) == {"content_id": "c-1", "version": 2, "tags": ["a"]}


def test_a_newer_version_overwrites(tables: SharedTables) -> None:
    # Given version 1 stored
    tables.put_if_newer([PutRequest("markets", {"market": "AU", "version": 1, "name": "old"})])

    # When version 2 arrives
    [result] = tables.put_if_newer([PutRequest("markets", {"market": "AU", "version": 2, "name": "new"})])

    # Then it replaces the item
    assert result.status == PutStatus.WRITTEN
    assert tables.get_item("markets", ("AU",)) == {"market": "AU", "version": 2, "name": "new"}


def test_allow_equal_repairs_the_same_version_but_never_an_older_one(tables: SharedTables) -> None:
    # Given version 3 stored with wrong content
    tables.put_if_newer([PutRequest("content", {"content_id": "c-1", "version": 3, "tags": ["wrong"]})])

    # When reconcile overwrites at version 3, and something tries version 2 the same way
    same, older = tables.put_if_newer(
        [
            PutRequest("content", {"content_id": "c-1", "version": 3, "tags": ["right"]}),
            PutRequest("content", {"content_id": "c-1", "version": 2, "tags": ["old"]}),
        ],
        allow_equal=True,
    )

    # Then the same version is repaired and the older one refused
    assert (same.status, older.status) == (PutStatus.WRITTEN, PutStatus.SUPERSEDED)
    assert tables.get_item("content", ("c-1",))["tags"] == ["right"]  # type: ignore[index]


def test_an_item_over_400_kb_is_refused_before_any_request(tables: SharedTables) -> None:
    # Given an item just over DynamoDB's limit
    item = {"content_id": "big", "version": 1, "tags": ["x" * 1000] * 410}
    assert item_size(item) > MAX_ITEM_BYTES

    # When it is put
    [result] = tables.put_if_newer([PutRequest("content", item)])

    # Then it fails permanently, says why, and nothing is stored
    assert result.status == PutStatus.PERMANENT
    assert "400" in result.error and result.requests == 0
    assert tables.get_item("content", ("big",)) is None


def test_concurrent_writers_in_any_order_leave_the_highest_version(tables: SharedTables) -> None:
    # Given 60 versions of one item, shuffled, written twice each from 6 threads (duplicates + reordering)
    versions = list(range(1, 61)) * 2
    random.Random(7).shuffle(versions)

    def write(version: int) -> None:
        tables.put_if_newer([PutRequest("positions", position("c-9", version, reason=f"v{version}"))])

    # When they all write without any lock
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(write, versions))

    # Then the table holds the newest
    assert tables.get_item("positions", ("AU", "c-9"))["reason"] == "v60"  # type: ignore[index]


def test_batch_get_reads_across_tables_and_skips_missing_keys(tables: SharedTables) -> None:
    # Given a position and a content item
    tables.put_if_newer(
        [
            PutRequest("positions", position("c-1", 1)),
            PutRequest("content", {"content_id": "c-1", "version": 1, "tags": []}),
        ]
    )

    # When both and two missing keys are read at once
    found = tables.batch_get(
        [
            ("positions", ("AU", "c-1")),
            ("content", ("c-1",)),
            ("positions", ("AU", "c-2")),
            ("content", ("c-2",)),
        ]
    )

    # Then only the stored ones come back, by key
    assert set(found) == {("positions", ("AU", "c-1")), ("content", ("c-1",))}
    assert found[("content", ("c-1",))]["version"] == 1


def test_batch_get_enforces_dynamodbs_limits(tables: SharedTables) -> None:
    # Given more keys than one BatchGetItem takes, and a duplicated key
    too_many = [("content", (f"c-{n}",)) for n in range(MAX_BATCH_GET_KEYS + 1)]
    duplicated = [("content", ("c-1",)), ("content", ("c-1",))]

    # When either is asked for, then the code refuses it (moto would accept both)
    with pytest.raises(ValueError, match="at most 100"):
        tables.batch_get(too_many)
    with pytest.raises(ValueError, match="duplicate"):
        tables.batch_get(duplicated)
    # And exactly 100 keys are fine
    assert tables.batch_get(too_many[:MAX_BATCH_GET_KEYS]) == {}


def test_scan_and_query_partition(tables: SharedTables) -> None:
    # Given positions in two markets
    tables.put_if_newer(
        [PutRequest("positions", position(f"c-{n}", 1, market=m)) for m in ("AU", "DE") for n in range(3)]
    )

    # When the table is scanned and AU's partition queried
    everything = list(tables.scan("positions"))
    australia = list(tables.query_partition("positions", "AU"))

    # Then the scan sees all six and the query only AU's three
    assert len(everything) == 6
    assert sorted(i["content_id"] for i in australia) == ["c-0", "c-1", "c-2"]
    assert {i["market"] for i in australia} == {"AU"}


def test_delete_if_version_only_deletes_the_version_read(tables: SharedTables) -> None:
    # Given version 2 stored
    tables.put_if_newer([PutRequest("markets", {"market": "ZZ", "version": 2})])

    # When a delete expects version 1, then nothing is deleted; expecting 2, it is
    assert tables.delete_if_version("markets", ("ZZ",), 1) is False
    assert tables.get_item("markets", ("ZZ",)) is not None
    assert tables.delete_if_version("markets", ("ZZ",), 2) is True
    assert tables.get_item("markets", ("ZZ",)) is None
