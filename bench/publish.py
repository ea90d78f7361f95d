"""Benchmark: publish 10,000 changed positions through the real pipeline, against raw writes.

Run from the repository root with `python bench/publish.py` (or `make bench-publish`). It starts
a moto server in its own process (`moto_server -H 127.0.0.1 -p <free port>`), builds a throwaway
SQLite database under a temporary MERIDIAN_VAR_DIR, sets 10,000 positions through the services
(10,000 outbox rows) and then measures, in the same run:

1. the pipeline: `publisher.drain()` — outbox → coalesce → items built from the database →
   conditional PutItems in parallel → rows marked published;
2. the same 10,000 conditional PutItems issued raw, with the same parallelism and one client;
3. for reference, boto3's `batch_writer` of the same items (BatchWriteItem, 25 a request, no
   conditions: it cannot be order-proof, so the pipeline does not use it).

Goals: pipeline ≤ 1.5 × raw (the pipeline's own work is small next to the unavoidable writes),
1 write request and 1 write capacity unit per item.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

POSITIONS = 10_000
GOAL = 1.5
THREADS = int(os.environ.get("SHARED_TABLES_PUBLISH_THREADS", "8"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_moto(port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError("moto_server did not start")


def configure(var_dir: str, port: int) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "portal.settings.local",
            "MERIDIAN_VAR_DIR": var_dir,
            "DEBUG": "0",
            "SHARED_TABLES_BACKEND": "dynamodb",
            "SHARED_TABLES_PREFIX": "bench-pipeline-",
            "SHARED_TABLES_PUBLISH_ON_COMMIT": "0",
            "SHARED_TABLES_PUBLISH_THREADS": str(THREADS),
            "AWS_ENDPOINT_URL_DYNAMODB": f"http://127.0.0.1:{port}",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
            "LOG_LEVEL": "WARNING",
        }
    )
    os.environ.pop("DATABASE_URL", None)


def count_requests(client: Any) -> dict[str, int]:
    """Count the HTTP requests `client` sends, per operation (retries included)."""
    counts: dict[str, int] = {}

    def on_send(request: Any, **kwargs: Any) -> None:
        operation = request.headers.get("X-Amz-Target", b"")
        name = (operation.decode() if isinstance(operation, bytes) else operation).split(".")[-1]
        counts[name] = counts.get(name, 0) + 1

    client.meta.events.register("before-send.dynamodb", on_send)
    return counts


def seed() -> None:
    """A market, 10,000 content items and 10,000 positions set through the services."""
    from datetime import UTC, datetime, timedelta

    from django.core.management import call_command

    from content.models import ContentItem
    from content.services import PositionChange, positions_bulk_set
    from markets.services import market_create
    from portal.shared_tables.models import OutboxEntry, OutboxKind, OutboxStatus

    call_command("migrate", verbosity=0)
    market = market_create(
        actor=None, code="AU", name="Australia", languages=["en"], timezone="Australia/Sydney"
    )
    start = datetime(2026, 1, 1, tzinfo=UTC)
    ContentItem.objects.bulk_create(
        [
            ContentItem(
                upstream_id=f"bench-{n:05d}",
                content_type="article",
                title=f"Story {n}",
                source="bench",
                language="en",
                published_at=start + timedelta(minutes=n),
            )
            for n in range(POSITIONS)
        ],
        batch_size=1000,
    )
    ids = list(ContentItem.objects.order_by("id").values_list("id", flat=True))
    result = positions_bulk_set(
        actor=None,
        markets=[market],
        item_ids=ids,
        change=PositionChange(state="promoted", boost=3, reason="Ocean Week"),
    )
    assert result.changed == POSITIONS, result
    # Only the positions are under test: the market's own row is not part of the figures.
    OutboxEntry.objects.exclude(kind=OutboxKind.POSITION).update(status=OutboxStatus.PUBLISHED)
    assert OutboxEntry.objects.filter(status=OutboxStatus.PENDING).count() == POSITIONS


def raw_conditional_puts(client: Any, table: str, items: list[dict[str, Any]]) -> tuple[float, float]:
    """Put `items` with the pipeline's condition from THREADS threads sharing `client`."""
    from positioning.dynamodb import to_item

    def put(item: dict[str, Any]) -> float:
        response = client.put_item(
            TableName=table,
            Item=to_item(item),
            ConditionExpression="attribute_not_exists(#v) OR #v < :v",
            ExpressionAttributeNames={"#v": "version"},
            ExpressionAttributeValues={":v": {"N": str(item["version"])}},
            ReturnConsumedCapacity="TOTAL",
        )
        return float(response["ConsumedCapacity"]["CapacityUnits"])

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        units = sum(pool.map(put, items))
    return time.perf_counter() - started, units


def main() -> None:
    var_dir = tempfile.mkdtemp(prefix="meridian-bench-")
    port = free_port()
    server = start_moto(port)
    try:
        configure(var_dir, port)
        import django

        django.setup()
        from portal.shared_tables.config import shared_tables
        from portal.shared_tables.items import build_positions
        from portal.shared_tables.publisher import drain
        from positioning.tables import KEY_ATTRIBUTES

        t0 = time.perf_counter()
        seed()
        seeded = time.perf_counter() - t0
        print(f"Seeded {POSITIONS:,} positions (outbox rows) in {seeded:.1f} s; moto on :{port}")

        tables = shared_tables()
        tables.create_tables()
        client = tables.client  # type: ignore[attr-defined]
        pipeline_counts = count_requests(client)

        # Time only the writes inside the pipeline, to show what the pipeline itself adds.
        put_seconds = [0.0]
        inner_put = tables.put_if_newer

        def timed_put(requests: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return inner_put(requests, **kwargs)
            finally:
                put_seconds[0] += time.perf_counter() - started

        tables.put_if_newer = timed_put  # type: ignore[method-assign]

        # 1. The pipeline.
        started = time.perf_counter()
        result = drain(tables=tables)
        pipeline = time.perf_counter() - started
        assert result.written == POSITIONS and not result.dead and not result.retrying, result.summary()

        # The same items, built once more (outside any timing) for the raw runs.
        keys = [f"AU|bench-{n:05d}" for n in range(POSITIONS)]
        items: list[dict[str, Any]] = []
        for start in range(0, POSITIONS, 1000):
            items.extend(build_positions(keys[start : start + 1000]).values())
        assert len(items) == POSITIONS

        # 2. Raw conditional puts, same parallelism, one shared client, fresh table.
        import boto3
        from botocore.config import Config

        raw_client = boto3.session.Session().client(
            "dynamodb",
            config=Config(
                retries={"mode": "standard", "total_max_attempts": 4}, max_pool_connections=max(10, THREADS)
            ),
        )
        raw_counts = count_requests(raw_client)
        key_schema = KEY_ATTRIBUTES["positions"]
        for name in ("bench-raw-positions", "bench-batch-positions"):
            raw_client.create_table(
                TableName=name,
                BillingMode="PAY_PER_REQUEST",
                KeySchema=[
                    {"AttributeName": "market", "KeyType": "HASH"},
                    {"AttributeName": "content_id", "KeyType": "RANGE"},
                ],
                AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in key_schema],
            )
        raw, raw_units = raw_conditional_puts(raw_client, "bench-raw-positions", items)

        # 3. batch_writer, for reference (25 items a request, unconditional).
        resource = boto3.session.Session().resource("dynamodb")
        batch_counts = count_requests(resource.meta.client)
        started = time.perf_counter()
        with resource.Table("bench-batch-positions").batch_writer() as writer:
            for item in items:
                writer.put_item(Item=item)
        batch = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(var_dir, ignore_errors=True)

    pipeline_puts = pipeline_counts.get("PutItem", 0)
    ratio = pipeline / raw
    print()
    print(f"{POSITIONS:,} positions, {THREADS} threads, moto server in its own process")
    print(f"{'':38}{'seconds':>9}{'items/s':>10}{'requests':>10}{'req/item':>10}{'WCU/item':>10}")
    print(
        f"{'pipeline (outbox → items → puts)':38}{pipeline:9.2f}{POSITIONS / pipeline:10.0f}"
        f"{pipeline_puts:10d}{pipeline_puts / POSITIONS:10.2f}{result.consumed_wcu / POSITIONS:10.2f}"
    )
    print(
        f"{'  of which conditional puts':38}{put_seconds[0]:9.2f}"
        f"{'':30}\n{'  of which the pipeline own work':38}{pipeline - put_seconds[0]:9.2f}"
    )
    raw_puts = raw_counts.get("PutItem", 0)
    print(
        f"{'raw conditional PutItem':38}{raw:9.2f}{POSITIONS / raw:10.0f}"
        f"{raw_puts:10d}{raw_puts / POSITIONS:10.2f}{raw_units / POSITIONS:10.2f}"
    )
    batches = batch_counts.get("BatchWriteItem", 0)
    print(
        f"{'batch_writer (reference, unconditional)':38}{batch:9.2f}{POSITIONS / batch:10.0f}"
        f"{batches:10d}{batches / POSITIONS:10.2f}{'n/a':>10}"
    )
    print()
    verdict = "met" if ratio <= GOAL else "NOT met"
    print(f"pipeline / raw = {ratio:.2f}x (goal ≤ {GOAL}x: {verdict})")
    print(
        f"write requests per item = {pipeline_puts / POSITIONS:.2f}, "
        f"WCU per item = {result.consumed_wcu / POSITIONS:.2f} (goal 1 each)"
    )
    if ratio > GOAL:
        sys.exit(1)


if __name__ == "__main__":
    main()
