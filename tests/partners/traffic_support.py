"""Requests with hand-computed figures, shared by the traffic and Logs Insights suites."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from accounts.partners.traffic.aggregation import Request

MINUTE = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
STAGE = "meridian:local"
FEED = "/feed/v1/{market}/GET"
PROBE = "/partners/probe/GET"


def hand_computed_minute(key_id: int) -> list[Request]:
    """15 feed requests in 12:00 and 2 probe requests in 12:01 (figures in the tests).

    12:00:00 3 requests, 12:00:01 10 (the last 2 throttled), 12:00:30 one 500, 12:00:59 one 404;
    latencies 1..15 ms in order. Times are whole milliseconds, as access logs carry them.
    """
    layout = [(0, 3), (1, 10), (30, 1), (59, 1)]
    requests: list[Request] = []
    n = 0
    for second, count in layout:
        for i in range(count):
            n += 1
            status, reason = 200, ""
            if second == 1 and i >= 8:
                status, reason = 429, "throttle"
            elif second == 30:
                status = 500
            elif second == 59:
                status = 404
            requests.append(
                Request(
                    request_id=f"r-{n}",
                    key_id=key_id,
                    stage=STAGE,
                    method=FEED,
                    at=MINUTE + timedelta(seconds=second, milliseconds=7 * i),
                    status=status,
                    reason=reason,
                    latency_ms=float(n),
                )
            )
    for i in range(2):
        requests.append(
            Request(
                request_id=f"p-{i}",
                key_id=key_id,
                stage=STAGE,
                method=PROBE,
                at=MINUTE + timedelta(minutes=1, seconds=5),
                status=429 if i else 200,
                reason="quota" if i else "",
                latency_ms=4.0,
            )
        )
    return requests
