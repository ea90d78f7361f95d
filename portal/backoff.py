"""The one backoff for every retry the database schedules (outbox rows, labelling jobs).

A retry scheduled in a table (a `next_attempt_at` column drained by a sweep) waits
`base * 2 ** (attempt - 1)` seconds, capped at `cap`, then jittered so that rows which failed
together do not all come due at the same instant. The two jitters AWS's architecture blog
("Exponential Backoff And Jitter") compares:

- "full": uniform in [0, delay]. Spreads retries most; a retry may come almost at once.
- "equal": delay / 2 + uniform in [0, delay / 2]. Never sooner than half the delay.
- "none": exactly the delay (deterministic: for callers whose users read the schedule).

Retries of a single AWS call are botocore's job (`retries={"mode": "standard", ...}` on the
client), never a loop of ours around it: the two would multiply.
"""

from __future__ import annotations

import random
from typing import Literal

Jitter = Literal["full", "equal", "none"]


def backoff_delay(attempt: int, *, base: float, cap: float, jitter: Jitter = "equal") -> float:
    """Return the seconds to wait before the attempt after failed attempt number `attempt` (1-based).

    Raises ValueError for a negative `base` or `cap`, or an unknown `jitter`.
    """
    if base < 0 or cap < 0:
        raise ValueError("backoff_delay needs a non-negative base and cap.")
    # 2 ** 1000 would overflow a float long after the cap applies: stop doubling there.
    exponent = min(max(0, attempt - 1), 64)
    delay = min(float(cap), float(base) * 2.0**exponent)
    if jitter == "none":
        return delay
    if jitter == "full":
        return random.uniform(0, delay)
    if jitter == "equal":
        return delay / 2 + random.uniform(0, delay / 2)
    raise ValueError(f"Unknown jitter {jitter!r}: use 'full', 'equal' or 'none'.")
