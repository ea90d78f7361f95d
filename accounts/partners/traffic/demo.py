"""A day of believable partner traffic for the demo: a daily curve, bursts, errors and 429s.

The requests go through the same aggregation as real ones (`traffic_ingest`); request ids are
derived from the key and the second, so generating the same window again replaces, never adds.
"""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta

from accounts.partners.traffic.aggregation import Request

METHODS = (("/feed/v1/{market}/GET", 0.85, 35.0), ("/partners/probe/GET", 0.15, 8.0))


def demo_requests(
    *, key_id: int, stage: str, end: datetime, hours: int, burst_limit: int, seed: int = 16
) -> list[Request]:
    """Return `hours` of requests ending at `end` (a whole minute, UTC) for one key.

    Steady traffic follows a daily curve (about 1 to 5 requests a second), a burst of 60 to
    700 requests in one second comes every 20 minutes or so (beyond `burst_limit` answered 429
    "throttle"), about 1 % are 4xx and 0.2 % 5xx, and the last 20 minutes the quota is spent.
    """
    rng = random.Random(f"{seed}:{key_id}")
    start = end - timedelta(hours=hours)
    quota_spent_at = end - timedelta(minutes=20)
    requests: list[Request] = []
    second = start
    while second < end:
        hour = second.hour + second.minute / 60
        mean = 3.0 + 2.0 * math.sin((hour - 9) / 24 * 2 * math.pi)
        count = _poisson(rng, mean)
        if rng.random() < 1 / 1200:
            count += rng.randint(60, 700)
        for n in range(count):
            at = second + timedelta(microseconds=rng.randrange(1_000_000))
            method, latency = _method(rng)
            status, reason = 200, ""
            if at >= quota_spent_at:
                status, reason = 429, "quota"
            elif n >= burst_limit:
                status, reason = 429, "throttle"
            else:
                roll = rng.random()
                status = 404 if roll < 0.01 else 500 if roll < 0.012 else 200
            requests.append(
                Request(
                    request_id=f"demo-{key_id}-{int(second.timestamp())}-{n}",
                    key_id=key_id,
                    stage=stage,
                    method=method,
                    at=at,
                    status=status,
                    reason=reason,
                    latency_ms=round(rng.lognormvariate(math.log(latency), 0.5), 1) if status != 429 else 1.0,
                )
            )
        second += timedelta(seconds=1)
    return requests


def _method(rng: random.Random) -> tuple[str, float]:
    roll = rng.random()
    for method, share, latency in METHODS:
        if roll < share:
            return method, latency
        roll -= share
    return METHODS[-1][0], METHODS[-1][2]


def _poisson(rng: random.Random, mean: float) -> int:
    # Knuth's method: fine for the small means of a demo.
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count
