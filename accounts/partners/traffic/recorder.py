"""The local enforcement's traffic recorder: one sample per request, buffered in the process.

A request only appends to a list. Every FLUSH_SECONDS the buffer is stored as `TrafficSample`
rows (one bulk insert), and at most every ROLLUP_SECONDS (at once the first time, and on an
explicit `flush()`, e.g. at exit) the minutes touched since are rolled up again, for the keys
that made them, from every process's samples. So several runserver or gunicorn workers add up,
a repeated flush counts nothing twice, and a minute's samples are re-read about twice, not at
every flush (re-reading them every 5 s made a busy key's flushes grow with the minute).
"""

from __future__ import annotations

import atexit
import logging
import math
import threading
import time
from datetime import datetime, timedelta

from accounts.partners.traffic.aggregation import Request

logger = logging.getLogger(__name__)

FLUSH_SECONDS = 5.0
ROLLUP_SECONDS = 30.0
# A database that stays away must not grow the buffer without end: older samples are dropped.
MAX_PENDING = 50_000


class TrafficRecorder:
    """Buffers request samples, stores them in batches and rolls their minutes up."""

    def __init__(
        self, *, flush_seconds: float = FLUSH_SECONDS, rollup_seconds: float = ROLLUP_SECONDS
    ) -> None:
        self.flush_seconds = flush_seconds
        self.rollup_seconds = rollup_seconds
        self._pending: list[Request] = []
        self._lock = threading.Lock()
        self._flushed_at = time.monotonic()
        self._rolled_up_at = -math.inf
        # key id -> earliest and latest sample stored since the last rollup
        self._touched: dict[int, tuple[datetime, datetime]] = {}

    def add(self, request: Request) -> None:
        """Buffer one sample; store the buffer when the last flush is FLUSH_SECONDS old."""
        with self._lock:
            self._pending.append(request)
            if len(self._pending) > MAX_PENDING:
                del self._pending[: len(self._pending) - MAX_PENDING]
            due = time.monotonic() - self._flushed_at >= self.flush_seconds
            if due:
                self._flushed_at = time.monotonic()
        if due:
            self._flush(rollup=False)

    def discard(self) -> None:
        """Drop the buffered samples unstored (tests start from an empty buffer)."""
        with self._lock:
            self._pending = []
            self._touched = {}
            self._flushed_at = time.monotonic()

    def flush(self) -> int:
        """Store the buffered samples and roll up every minute touched; return how many were stored."""
        return self._flush(rollup=True)

    def _flush(self, *, rollup: bool) -> int:
        from accounts.partners.traffic.services import traffic_rollup, traffic_samples_insert

        with self._lock:
            pending, self._pending = self._pending, []
            self._flushed_at = time.monotonic()
        try:
            stored = traffic_samples_insert(requests=pending)
        except Exception:
            # Traffic figures are for reports: losing a few seconds of them must not fail a request.
            logger.exception("Could not store %d partner traffic samples.", len(pending))
            return 0
        with self._lock:
            for sample in pending:
                first, last = self._touched.get(sample.key_id, (sample.at, sample.at))
                self._touched[sample.key_id] = (min(first, sample.at), max(last, sample.at))
            due = rollup or time.monotonic() - self._rolled_up_at >= self.rollup_seconds
            touched = self._touched if due else {}
            if due:
                self._touched = {}
                self._rolled_up_at = time.monotonic()
        if touched:
            try:
                traffic_rollup(
                    start=min(first for first, _ in touched.values()),
                    end=max(last for _, last in touched.values()) + _MICROSECOND,
                    key_ids=set(touched),
                )
            except Exception:
                # The samples are stored: `partners_traffic rollup` or the next rollup recovers.
                logger.exception("Could not roll up partner traffic of %d keys.", len(touched))
        return stored


_MICROSECOND = timedelta(microseconds=1)
_recorder = TrafficRecorder()
atexit.register(_recorder.flush)


def get_recorder() -> TrafficRecorder:
    """Return the process's recorder."""
    return _recorder
