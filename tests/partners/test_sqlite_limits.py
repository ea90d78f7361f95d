"""The SQLite storage for `limits`: the same answers as limits' own storages, and safe across processes."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

from limits import RateLimitItemPerSecond
from limits.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter

from accounts.partners.gateway.sqlite_limits import SQLiteStorage


def test_counters_expire_and_clear(tmp_path: Path, time_machine: Any) -> None:
    time_machine.move_to("2026-03-10T12:00:00Z", tick=False)
    storage = SQLiteStorage(path=tmp_path / "l.sqlite3")
    assert storage.incr("k", 10) == 1
    assert storage.incr("k", 10, amount=4) == 5
    assert storage.get("k") == 5
    assert storage.get_expiry("k") == storage.clock() + 10
    time_machine.shift(10)
    assert storage.get("k") == 0
    assert storage.incr("k", 10) == 1  # a fresh window after expiry
    storage.clear("k")
    assert storage.get("k") == 0
    assert storage.check()


def test_limits_strategies_run_on_it(tmp_path: Path, time_machine: Any) -> None:
    time_machine.move_to("2026-03-10T12:00:00Z", tick=False)
    storage = SQLiteStorage(path=tmp_path / "l.sqlite3")
    item = RateLimitItemPerSecond(3, 2)
    moving = MovingWindowRateLimiter(storage)
    assert [moving.hit(item, "a") for _ in range(4)] == [True, True, True, False]
    stats = moving.get_window_stats(item, "a")
    assert stats.remaining == 0 and stats.reset_time == storage.clock() + 2
    time_machine.shift(2.01)
    assert moving.hit(item, "a")
    fixed = FixedWindowRateLimiter(storage)
    assert [fixed.hit(item, "b") for _ in range(4)] == [True, True, True, False]


def _hammer(path: str, key: str, tries: int, queue: Any) -> None:
    storage = SQLiteStorage(path=path)
    moving = MovingWindowRateLimiter(storage)
    item = RateLimitItemPerSecond(50, 60)
    admitted = sum(1 for _ in range(tries) if moving.hit(item, key))
    for _ in range(tries):
        storage.incr(f"{key}/count", 60)
    queue.put(admitted)


def test_four_processes_share_one_burst(tmp_path: Path) -> None:
    # Given four worker processes hitting one key's window of 50 at once, 30 tries each
    path = str(tmp_path / "shared.sqlite3")
    SQLiteStorage(path=path)
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    workers = [context.Process(target=_hammer, args=(path, "key", 30, queue)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    # Then exactly 50 were admitted in total (MemoryStorage would admit 4 × 30 = 120), and every
    # counter increment from every process was kept
    assert sum(queue.get(timeout=5) for _ in workers) == 50
    assert SQLiteStorage(path=path).get("key/count") == 120
