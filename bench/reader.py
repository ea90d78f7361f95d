"""Benchmark: what the public Content API pays per feed, against one DynamoDB round trip.

Run from the repository root with `python bench/reader.py` (or `make bench-reader`). It starts a
moto server in its own process, publishes one market (with rules), 1,000 content items and 300
positions, and measures in the same run:

1. one BatchGetItem of 100 keys (the physical floor of a page when the calls run in parallel);
2. `SharedTablesReader.feed()` for 1,000 candidates (2,000 keys: 20 BatchGetItem calls), market
   item cached, with the calls in parallel (10 in flight, the default);
3. the same feed with one call at a time (how the reader worked before).

Goal: parallel feed / one round trip ≤ 3. The feed's decisions must equal the in-process
resolver's over the same published data (asserted).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.publish import free_port, start_moto  # noqa: E402

CANDIDATES = 1_000
POSITIONS = 300
RUNS = 15
GOAL = 3.0
STAMP = "2026-12-01T00:00:00Z"


def median_seconds(action: Any, runs: int = RUNS) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def publish(tables: Any) -> None:
    from positioning.tables import SCHEMA_VERSION, PutRequest

    rule = {
        "id": "1",
        "action": "hide",
        "match": {"tags": ["hunting"], "content_types": [], "sources": []},
        "boost": 0,
        "starts_at": None,
        "ends_at": None,
        "note": "youth protection",
    }
    market = {
        "market": "AU",
        "name": "Australia",
        "languages": ["en"],
        "timezone": "Australia/Sydney",
        "default_visibility": "visible",
        "active": True,
        "rules": [rule],
        "version": 1,
        "updated_at": STAMP,
        "schema_version": SCHEMA_VERSION,
    }
    requests = [PutRequest("markets", market)]
    for n in range(CANDIDATES):
        requests.append(
            PutRequest(
                "content",
                {
                    "content_id": f"c-{n}",
                    "content_type": "video" if n % 3 else "article",
                    "source": "wire",
                    "tags": ["hunting"] if n % 17 == 0 else ["ocean"],
                    "version": 1,
                    "updated_at": STAMP,
                    "schema_version": SCHEMA_VERSION,
                },
            )
        )
    states = ["hidden", "shown", "promoted", "pinned"]
    for n in range(POSITIONS):
        state = states[n % 4]
        requests.append(
            PutRequest(
                "positions",
                {
                    "market": "AU",
                    "content_id": f"c-{n * 3}",
                    "state": state,
                    "boost": 2 if state == "promoted" else 0,
                    "slot": (n // 4) + 1 if state == "pinned" else None,
                    "section": "",
                    "starts_at": None,
                    "ends_at": None,
                    "reason": "bench",
                    "version": 1,
                    "updated_at": STAMP,
                    "schema_version": SCHEMA_VERSION,
                },
            )
        )
    tables.put_if_newer(requests)


def main() -> int:
    port = free_port()
    server = start_moto(port)
    try:
        os.environ.update(
            {
                "AWS_ENDPOINT_URL_DYNAMODB": f"http://127.0.0.1:{port}",
                "AWS_ACCESS_KEY_ID": "bench",
                "AWS_SECRET_ACCESS_KEY": "bench",
                "AWS_DEFAULT_REGION": "us-east-1",
            }
        )
        from positioning.backends import open_tables
        from positioning.reader import SharedTablesReader, candidate_with_content, position_from_item
        from positioning.resolver import Candidate, resolve_feed

        tables = open_tables("dynamodb", prefix="bench-reader-", threads=10)
        tables.create_tables()
        publish(tables)
        at = datetime(2026, 12, 6, 12, tzinfo=UTC)
        page = [Candidate(f"c-{n}", "video", "wire") for n in range(CANDIDATES)]
        keys = [("content", (f"c-{n}",)) for n in range(100)]

        parallel = SharedTablesReader(tables, parallel_requests=10, market_ttl_seconds=3600)
        serial = SharedTablesReader(tables, parallel_requests=1, market_ttl_seconds=3600)
        feed = parallel.feed("AU", page, at=at, include_hidden=True)  # warms the market cache
        serial.feed("AU", page, at=at, include_hidden=True)

        # The decisions equal the in-process resolver's over the same published data.
        assert feed is not None
        market = parallel.market("AU")
        assert market is not None
        positions, contents, _ = serial.lookup("AU", [c.content_id for c in page])
        expected = resolve_feed(
            market.spec,
            [candidate_with_content(c, contents.get(c.content_id)) for c in page],
            {cid: position_from_item(item) for cid, item in positions.items()},
            at,
            include_hidden=True,
        )
        assert feed.entries == expected, "the reader disagrees with the resolver"
        assert len(positions) == POSITIONS and len(contents) == CANDIDATES

        one_trip = median_seconds(lambda: tables.batch_get(keys))
        parallel_feed = median_seconds(lambda: parallel.feed("AU", page, at=at))
        serial_feed = median_seconds(lambda: serial.feed("AU", page, at=at))
    finally:
        server.terminate()
        server.wait(timeout=10)

    ratio = parallel_feed / one_trip
    print(f"one BatchGetItem of 100 keys (median of {RUNS}): {one_trip * 1000:.1f} ms")
    print(f"feed of {CANDIDATES} candidates, 20 calls, 10 in parallel: {parallel_feed * 1000:.1f} ms")
    print(f"feed of {CANDIDATES} candidates, 20 calls, one at a time:  {serial_feed * 1000:.1f} ms")
    print(f"decisions identical to the in-process resolver: yes ({len(feed.entries)} entries)")
    before = serial_feed / one_trip
    print(f"reader / one round trip = {ratio:.2f} (goal ≤ {GOAL:g}; one call at a time: {before:.2f})")
    return 0 if ratio <= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
