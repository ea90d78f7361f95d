"""The embedded shared tables: one SQLite file (under var/ by default), same items, same version rule.

`make run` needs no AWS: the publisher writes here and the reference feed reads from here. Each
logical table is a SQLite table `<prefix><name>` with the key as (pk, sk), the version in its own
column (so the version rule is one SQL condition) and the item as JSON. Thread-safe: one
connection per instance, serialised by a lock; other processes share the file through WAL and a
busy timeout.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from positioning.tables import (
    KEY_ATTRIBUTES,
    MAX_ITEM_BYTES,
    Item,
    ItemKey,
    PutRequest,
    PutResult,
    PutStatus,
    TablesUnavailable,
    check_batch_get,
    item_size,
    oversize_error,
    to_json,
)

_BUSY_TIMEOUT_SECONDS = 20.0


def _write_units(item: Item) -> float:
    # Reported like DynamoDB's on-demand writes (1 unit per started KB) so that the publisher's
    # figures read the same on both backends.
    return float(max(1, math.ceil(item_size(item) / 1024)))


class LocalTables:
    """Shared tables in a SQLite file at `path`, named `<prefix><table>`."""

    backend_name = "local"

    def __init__(self, path: str | os.PathLike[str], *, prefix: str) -> None:
        self.path = Path(path)
        self.prefix = prefix
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self.create_tables()

    # --- plumbing --------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(
                self.path, timeout=_BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False
            )
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            self._connection = connection
        return self._connection

    def close(self) -> None:
        """Close the connection (a later call reopens it)."""
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def table_name(self, table: str) -> str:
        if table not in KEY_ATTRIBUTES:
            raise KeyError(f"Unknown shared table {table!r}.")
        return f"{self.prefix}{table}"

    def _quoted(self, table: str) -> str:
        return '"' + self.table_name(table).replace('"', '""') + '"'

    @staticmethod
    def _pk_sk(table: str, key: Sequence[str]) -> tuple[str, str]:
        return (str(key[0]), str(key[1]) if len(KEY_ATTRIBUTES[table]) > 1 else "")

    # --- operations ------------------------------------------------------------------------

    def create_tables(self) -> list[str]:
        created = []
        with self._lock:
            connection = self._connect()
            existing = {
                row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            for table in KEY_ATTRIBUTES:
                if self.table_name(table) in existing:
                    continue
                connection.execute(
                    f"CREATE TABLE IF NOT EXISTS {self._quoted(table)} ("
                    "pk TEXT NOT NULL, sk TEXT NOT NULL, version INTEGER NOT NULL, item TEXT NOT NULL, "
                    "PRIMARY KEY (pk, sk)) WITHOUT ROWID"
                )
                created.append(self.table_name(table))
        return created

    def put_if_newer(self, requests: Sequence[PutRequest], *, allow_equal: bool = False) -> list[PutResult]:
        results: list[PutResult | None] = [None] * len(requests)
        operator = ">=" if allow_equal else ">"
        to_write: list[tuple[int, PutRequest]] = []
        for index, request in enumerate(requests):
            if item_size(request.item) > MAX_ITEM_BYTES:
                results[index] = PutResult(
                    request,
                    PutStatus.PERMANENT,
                    error=oversize_error(item_size(request.item)),
                )
            else:
                to_write.append((index, request))
        try:
            with self._lock:
                connection = self._connect()
                connection.execute("BEGIN IMMEDIATE")
                try:
                    for index, request in to_write:
                        pk, sk = self._pk_sk(request.table, request.key[1])
                        table = self._quoted(request.table)
                        cursor = connection.execute(
                            f"INSERT INTO {table} (pk, sk, version, item) VALUES (?, ?, ?, ?) "
                            "ON CONFLICT (pk, sk) DO UPDATE SET version = excluded.version, "
                            f"item = excluded.item WHERE excluded.version {operator} {table}.version",
                            (pk, sk, int(request.item["version"]), to_json(request.item)),
                        )
                        status = PutStatus.WRITTEN if cursor.rowcount == 1 else PutStatus.SUPERSEDED
                        results[index] = PutResult(
                            request, status, requests=1, consumed_wcu=_write_units(request.item)
                        )
                    connection.execute("COMMIT")
                except BaseException:
                    connection.execute("ROLLBACK")
                    raise
        except sqlite3.OperationalError as exc:
            # "database is locked" after the busy timeout: another process holds the file.
            for index, request in to_write:
                results[index] = PutResult(request, PutStatus.RETRYABLE, error=f"SQLite: {exc}")
        return [result for result in results if result is not None]

    def get_item(self, table: str, key: Sequence[str]) -> Item | None:
        pk, sk = self._pk_sk(table, key)
        with self._lock:
            row = (
                self._connect()
                .execute(f"SELECT item FROM {self._quoted(table)} WHERE pk = ? AND sk = ?", (pk, sk))
                .fetchone()
            )
        return None if row is None else dict(json.loads(row[0]))

    def batch_get(self, keys: Sequence[ItemKey]) -> dict[ItemKey, Item]:
        check_batch_get(keys)
        found: dict[ItemKey, Item] = {}
        try:
            with self._lock:
                connection = self._connect()
                for table, values in keys:
                    pk, sk = self._pk_sk(table, values)
                    row = connection.execute(
                        f"SELECT item FROM {self._quoted(table)} WHERE pk = ? AND sk = ?", (pk, sk)
                    ).fetchone()
                    if row is not None:
                        found[(table, tuple(values))] = json.loads(row[0])
        except sqlite3.OperationalError as exc:
            raise TablesUnavailable(f"SQLite: {exc}") from exc
        return found

    def _select(self, table: str, where: str = "", params: tuple[str, ...] = ()) -> Iterator[Item]:
        # Pages of 1,000 rows so a large table is never held in memory at once.
        last: tuple[str, str] = ("", "")
        first = True
        while True:
            condition = "(pk, sk) > (?, ?)" if not first else "1 = 1"
            sql = (
                f"SELECT pk, sk, item FROM {self._quoted(table)} WHERE {condition}"
                f"{' AND ' + where if where else ''} ORDER BY pk, sk LIMIT 1000"
            )
            with self._lock:
                rows = self._connect().execute(sql, (*(last if not first else ()), *params)).fetchall()
            if not rows:
                return
            for _, _, item in rows:
                yield json.loads(item)
            last = (rows[-1][0], rows[-1][1])
            first = False

    def scan(self, table: str) -> Iterator[Item]:
        return self._select(table)

    def query_partition(self, table: str, partition: str) -> Iterator[Item]:
        return self._select(table, "pk = ?", (partition,))

    def delete_if_version(self, table: str, key: Sequence[str], version: int) -> bool:
        pk, sk = self._pk_sk(table, key)
        with self._lock:
            cursor = self._connect().execute(
                f"DELETE FROM {self._quoted(table)} WHERE pk = ? AND sk = ? AND version = ?",
                (pk, sk, int(version)),
            )
        return cursor.rowcount == 1
