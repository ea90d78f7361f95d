"""Compare the database's projection with the shared tables; report and optionally repair drift.

For every registered item kind, the table is read first and the database second, so an item
published while reconcile runs shows up as "missing" (repaired by a harmless conditional put)
rather than as "extra". Categories:

- missing: the database has the item, the table does not;
- stale: the table holds a lower version;
- mismatched: same version, different content (a hand edit or a bug);
- extra: the table holds an item the database no longer has;
- ahead: the table holds a higher version than the database (after restoring an old database
  backup; new changes would be refused until the versions pass it: reported, never "repaired").

`repair=True` puts missing and stale items with the usual condition, overwrites mismatched ones
only at their own version (`version <= :v`), and deletes extra items only if their version is
still the one read (a concurrent publish is never lost).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from portal.shared_tables.config import shared_tables
from portal.shared_tables.items import KEY_CHUNK, ItemBuilder, builders
from positioning.tables import PutRequest, SharedTables, item_key, to_json

logger = logging.getLogger(__name__)

SAMPLES = 20
CATEGORIES = ("missing", "stale", "mismatched", "extra", "ahead")


@dataclass
class Drift:
    """How many items of one category, and a few of their keys."""

    count: int = 0
    samples: list[str] = field(default_factory=list)

    def add(self, key: str) -> None:
        self.count += 1
        if len(self.samples) < SAMPLES:
            self.samples.append(key)


@dataclass
class KindReport:
    """Reconcile's findings for one item kind (one table)."""

    kind: str
    table: str
    in_database: int = 0
    in_table: int = 0
    drift: dict[str, Drift] = field(default_factory=lambda: {c: Drift() for c in CATEGORIES})
    repaired: int = 0
    repair_failures: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return all(d.count == 0 for d in self.drift.values())


@dataclass
class ReconcileReport:
    """Reconcile's findings for every kind."""

    market: str | None
    repair: bool
    kinds: list[KindReport] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return all(kind.clean for kind in self.kinds)

    def lines(self) -> Iterator[str]:
        """Yield a human-readable report."""
        scope = f"market {self.market}" if self.market else "all markets"
        yield f"Reconcile ({scope}{', repairing' if self.repair else ', report only'}):"
        for kind in self.kinds:
            counts = ", ".join(f"{c} {kind.drift[c].count}" for c in CATEGORIES)
            yield (
                f"  {kind.table}: {kind.in_database} in the database, {kind.in_table} in the table; {counts}"
            )
            for category in CATEGORIES:
                drift = kind.drift[category]
                if drift.samples:
                    more = (
                        f" (+{drift.count - len(drift.samples)} more)"
                        if drift.count > len(drift.samples)
                        else ""
                    )
                    yield f"    {category}: {', '.join(drift.samples)}{more}"
            if self.repair:
                yield f"    repaired {kind.repaired}"
            for failure in kind.repair_failures:
                yield f"    repair failed: {failure}"


def _digest(item: dict[str, Any]) -> bytes:
    return hashlib.blake2b(to_json(item).encode("utf-8"), digest_size=16).digest()


def _chunks(keys: Iterable[str], size: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    for key in keys:
        chunk.append(key)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _repair(
    tables: SharedTables, requests: Sequence[PutRequest], allow_equal: bool, report: KindReport
) -> None:
    if not requests:
        return
    for outcome in tables.put_if_newer(requests, allow_equal=allow_equal):
        if outcome.done:
            report.repaired += 1
        elif len(report.repair_failures) < SAMPLES:
            report.repair_failures.append(f"{outcome.request.key}: {outcome.error}")


def reconcile_kind(
    builder: ItemBuilder, *, tables: SharedTables, market: str | None = None, repair: bool = False
) -> KindReport:
    """Compare one kind's items in the database and in its table; repair if asked."""
    report = KindReport(kind=str(builder.kind), table=builder.table)
    # key -> (version, content digest, key values)
    stored: dict[str, tuple[int, bytes, tuple[str, ...]]] = {}
    for stored_item in builder.stored_items(tables, market):
        stored[builder.key_of(stored_item)] = (
            int(stored_item.get("version", 0)),
            _digest(stored_item),
            item_key(builder.table, stored_item)[1],
        )
    report.in_table = len(stored)

    for chunk in _chunks(builder.db_keys(market), KEY_CHUNK):
        items = builder.build(chunk)
        to_put: list[PutRequest] = []
        to_overwrite: list[PutRequest] = []
        for key in chunk:
            item = items.get(key)
            if item is None:  # deleted since the keys were listed
                continue
            report.in_database += 1
            found = stored.pop(key, None)
            if found is None:
                report.drift["missing"].add(key)
                to_put.append(PutRequest(builder.table, item))
                continue
            version, digest, _ = found
            if version < item["version"]:
                report.drift["stale"].add(key)
                to_put.append(PutRequest(builder.table, item))
            elif version > item["version"]:
                report.drift["ahead"].add(key)
            elif digest != _digest(item):
                report.drift["mismatched"].add(key)
                to_overwrite.append(PutRequest(builder.table, item))
        if repair:
            _repair(tables, to_put, False, report)
            _repair(tables, to_overwrite, True, report)

    for key, (version, _, values) in stored.items():
        report.drift["extra"].add(key)
        if repair:
            if tables.delete_if_version(builder.table, values, version):
                report.repaired += 1
            elif len(report.repair_failures) < SAMPLES:
                report.repair_failures.append(f"{key}: changed since it was read; left in place")
    return report


def reconcile(
    *, market: str | None = None, repair: bool = False, tables: SharedTables | None = None
) -> ReconcileReport:
    """Reconcile every registered kind (only `market`'s items when given; content is not per market).

    Raises TablesUnavailable when the tables cannot be reached.
    """
    tables = tables if tables is not None else shared_tables()
    report = ReconcileReport(market=market, repair=repair)
    for builder in builders():
        if market is not None and not builder.market_scoped:
            continue
        report.kinds.append(reconcile_kind(builder, tables=tables, market=market, repair=repair))
    drift = {
        f"{kind.table} {category}": d.count
        for kind in report.kinds
        for category, d in kind.drift.items()
        if d.count
    }
    if drift:
        logger.warning("Reconcile (%s): drift %s; repaired %s", market or "all markets", drift, repair)
    else:
        logger.info("Reconcile (%s): the tables match the database.", market or "all markets")
    return report
