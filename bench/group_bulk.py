"""Benchmark: one group position for 10,000 items in a group of 27 markets.

Run from the repository root with `python bench/group_bulk.py` (or `make bench-group-bulk`); about
half a minute. It builds a throwaway SQLite database and local shared tables under a temporary
MERIDIAN_VAR_DIR, creates 27 markets in one group (EU) and 10,000 content items, then:

1. applies one change ("promote, boost 5, Ocean Week") to the 10,000 items in the group through
   `group_positions_bulk_set` (rows, audit entries and outbox rows in one transaction), timed;
2. publishes the outbox with the real publisher into the local `positions` table, timed;

and prints how many position rows, outbox rows and shared-table items were written. Goal (issue
#14): 10,000 of each — one per item, however many members — not 27 × 10,000 = 270,000.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ITEMS = int(os.environ.get("BENCH_ITEMS", "10000"))
MEMBERS = [
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
    "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
]  # fmt: skip


def configure(var_dir: str) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "portal.settings.local",
            "MERIDIAN_VAR_DIR": var_dir,
            "DEBUG": "0",
            "SHARED_TABLES_BACKEND": "local",
            "SHARED_TABLES_LOCAL_PATH": str(Path(var_dir) / "shared_tables.sqlite3"),
            "SHARED_TABLES_PUBLISH_ON_COMMIT": "0",
            "LOG_LEVEL": "WARNING",
        }
    )
    os.environ.pop("DATABASE_URL", None)


def main() -> None:
    var_dir = tempfile.mkdtemp(prefix="meridian-bench-group-")
    try:
        configure(var_dir)
        import django

        django.setup()
        from datetime import UTC, datetime, timedelta

        from django.core.management import call_command

        from content.models import ContentItem, GroupPosition, Position
        from content.services import PositionChange, group_positions_bulk_set
        from markets.groups.services import group_create
        from markets.services import market_create
        from portal.audit.models import AuditEntry
        from portal.shared_tables.config import shared_tables
        from portal.shared_tables.models import OutboxEntry, OutboxKind, OutboxStatus
        from portal.shared_tables.publisher import drain

        call_command("migrate", verbosity=0)
        markets = [market_create(actor=None, code=code, name=code, languages=["en"]) for code in MEMBERS]
        eu = group_create(actor=None, code="EU", name="European Union", members=markets)
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
                for n in range(ITEMS)
            ],
            batch_size=1000,
        )
        ids = list(ContentItem.objects.order_by("id").values_list("id", flat=True))
        tables = shared_tables()
        tables.create_tables()
        # Only the group positions are under test: the markets' and the group's own items are not.
        OutboxEntry.objects.update(status=OutboxStatus.PUBLISHED)
        audit_before = AuditEntry.objects.count()

        t0 = time.perf_counter()
        result = group_positions_bulk_set(
            actor=None,
            group=eu,
            item_ids=ids,
            change=PositionChange(state="promoted", boost=5, reason="Ocean Week"),
        )
        applied = time.perf_counter() - t0
        t0 = time.perf_counter()
        report = drain()
        published = time.perf_counter() - t0

        rows = GroupPosition.objects.count()
        outbox = OutboxEntry.objects.filter(kind=OutboxKind.POSITION).count()
        items = sum(1 for _ in tables.scan("positions"))
        audits = AuditEntry.objects.count() - audit_before
        print(f"One group position for {len(ids):,} items in group EU ({len(markets)} member markets):")
        print(f"  applied in {applied:.1f} s ({result.changed:,} changed); published in {published:.1f} s")
        print(f"  group position rows written:   {rows:>9,}")
        print(f"  market position rows written:  {Position.objects.count():>9,}")
        print(f"  audit entries:                 {audits:>9,}")
        print(f"  outbox rows (positions):       {outbox:>9,}")
        print(f"  shared-table `positions` items:{items:>9,}")
        print(f"  (writing per market would take {len(markets) * len(ids):,} rows and items)")
        ok = rows == items == outbox == len(ids) and report.dead == 0
        print("goal: one row and one shared-table item per item — " + ("met" if ok else "MISSED"))
        if not ok:
            sys.exit(1)
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
