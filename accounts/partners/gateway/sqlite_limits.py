"""A `limits` storage backed by a SQLite file: process-safe rate limiting without Redis.

`limits`' own MemoryStorage lives in one process, so under gunicorn's workers (or two runserver
processes) each would admit a full burst. SQLite's file lock serialises the few writes each
request makes; WAL and `synchronous=OFF` keep them cheap (the counters are disposable: losing the
last second of them in a power cut costs nothing). The strategies themselves (moving window,
counters) stay `limits`' own.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from limits.storage import MovingWindowSupport, Storage

SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, value INTEGER NOT NULL, expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS events (key TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS events_key_at ON events (key, at);
"""


class SQLiteStorage(Storage, MovingWindowSupport):
    """Counters and moving windows in one SQLite file; safe across processes and threads.

    `clock` defaults to `time.time`, like `limits`' own storages, so a frozen clock in tests
    (time-machine) steers this storage and `limits`' strategies alike.
    """

    STORAGE_SCHEME = ["meridian+sqlite"]

    def __init__(
        self,
        uri: str | None = None,
        wrap_exceptions: bool = False,
        *,
        path: str | Path | None = None,
        clock: Callable[[], float] = time.time,
        **options: Any,
    ) -> None:
        if path is None:
            if uri is None or "://" not in uri:
                raise ValueError("SQLiteStorage needs a path, e.g. meridian+sqlite:///var/limits.sqlite3")
            path = uri.split("://", 1)[1]
        self.path = str(path)
        self.clock = clock
        self._local = threading.local()
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        with self._connection() as conn:
            conn.executescript(SCHEMA)

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return sqlite3.Error

    def _connection(self) -> sqlite3.Connection:
        # One connection per thread and per process: a forked worker must not share its parent's.
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            conn = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=OFF")
            self._local.conn = conn
            self._local.pid = os.getpid()
        return conn

    def incr(self, key: str, expiry: int | float, amount: int = 1) -> int:
        now = self.clock()
        conn = self._connection()
        row = conn.execute(
            "INSERT INTO counters (key, value, expires_at) VALUES (?1, ?2, ?3) "
            "ON CONFLICT (key) DO UPDATE SET "
            "value = CASE WHEN expires_at <= ?4 THEN excluded.value ELSE value + excluded.value END, "
            "expires_at = CASE WHEN expires_at <= ?4 THEN excluded.expires_at ELSE expires_at END "
            "RETURNING value",
            (key, amount, now + expiry, now),
        ).fetchone()
        return int(row[0])

    def get(self, key: str) -> int:
        row = (
            self._connection()
            .execute("SELECT value FROM counters WHERE key = ? AND expires_at > ?", (key, self.clock()))
            .fetchone()
        )
        return int(row[0]) if row else 0

    def get_expiry(self, key: str) -> float:
        now = self.clock()
        row = (
            self._connection()
            .execute("SELECT expires_at FROM counters WHERE key = ? AND expires_at > ?", (key, now))
            .fetchone()
        )
        return float(row[0]) if row else now

    def check(self) -> bool:
        try:
            self._connection().execute("SELECT 1").fetchone()
        except sqlite3.Error:
            return False
        return True

    def reset(self) -> int | None:
        conn = self._connection()
        count = conn.execute(
            "SELECT (SELECT COUNT(*) FROM counters) + (SELECT COUNT(*) FROM events)"
        ).fetchone()
        conn.execute("DELETE FROM counters")
        conn.execute("DELETE FROM events")
        return int(count[0])

    def clear(self, key: str) -> None:
        conn = self._connection()
        conn.execute("DELETE FROM counters WHERE key = ?", (key,))
        conn.execute("DELETE FROM events WHERE key = ?", (key,))

    def acquire_entry(self, key: str, limit: int, expiry: int | float, amount: int = 1) -> bool:
        if amount > limit:
            return False
        now = self.clock()
        conn = self._connection()
        # BEGIN IMMEDIATE takes the write lock first, so two processes cannot both see a free slot.
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute(
                "SELECT at FROM events WHERE key = ? ORDER BY at DESC LIMIT 1 OFFSET ?",
                (key, limit - amount),
            ).fetchone()
            if row is not None and row[0] >= now - expiry:
                conn.execute("COMMIT")
                return False
            conn.executemany("INSERT INTO events (key, at) VALUES (?, ?)", [(key, now)] * amount)
            # Entries older than the window can never matter again.
            conn.execute("DELETE FROM events WHERE key = ? AND at < ?", (key, now - expiry))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return True

    def get_moving_window(self, key: str, limit: int, expiry: int | float) -> tuple[float, int]:
        now = self.clock()
        row = (
            self._connection()
            .execute(
                "SELECT MIN(at), COUNT(*) FROM "
                "(SELECT at FROM events WHERE key = ? AND at >= ? ORDER BY at DESC LIMIT ?)",
                (key, now - expiry, limit),
            )
            .fetchone()
        )
        if not row or not row[1]:
            return now, 0
        return float(row[0]), int(row[1])
