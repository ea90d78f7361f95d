"""The local enforcement's traffic recorder: one sample per request, buffered in the process.

A request only appends to a list; every FLUSH_SECONDS (and at exit) the buffer is stored as
`TrafficSample` rows and the minutes it touched are rolled up again from all processes' samples,
so several runserver or gunicorn workers add up and a repeated flush counts nothing twice.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time

from accounts.partners.traffic.aggregation import Request

logger = logging.getLogger(__name__)

FLUSH_SECONDS = 5.0
# A database that stays away must not grow the buffer without end: older samples are dropped.
MAX_PENDING = 50_000


class TrafficRecorder:
    """Buffers request samples and flushes them to the traffic rollups in batches."""

    def __init__(self, *, flush_seconds: float = FLUSH_SECONDS) -> None:
        self.flush_seconds = flush_seconds
        self._pending: list[Request] = []
        self._lock = threading.Lock()
        self._flushed_at = time.monotonic()

    def add(self, request: Request) -> None:
        """Buffer one sample; flush when the last flush is FLUSH_SECONDS old."""
        with self._lock:
            self._pending.append(request)
            if len(self._pending) > MAX_PENDING:
                del self._pending[: len(self._pending) - MAX_PENDING]
            due = time.monotonic() - self._flushed_at >= self.flush_seconds
            if due:
                self._flushed_at = time.monotonic()
        if due:
            self.flush()

    def discard(self) -> None:
        """Drop the buffered samples unstored (tests start from an empty buffer)."""
        with self._lock:
            self._pending = []
            self._flushed_at = time.monotonic()

    def flush(self) -> int:
        """Store the buffered samples and roll their minutes up; return how many were stored."""
        from accounts.partners.traffic.services import traffic_samples_store

        with self._lock:
            pending, self._pending = self._pending, []
            self._flushed_at = time.monotonic()
        if not pending:
            return 0
        try:
            traffic_samples_store(requests=pending)
        except Exception:
            # Traffic figures are for reports: losing a few seconds of them must not fail a request.
            logger.exception("Could not store %d partner traffic samples.", len(pending))
            return 0
        return len(pending)


_recorder = TrafficRecorder()
atexit.register(_recorder.flush)


def get_recorder() -> TrafficRecorder:
    """Return the process's recorder."""
    return _recorder
