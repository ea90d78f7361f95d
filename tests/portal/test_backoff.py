"""The one backoff helper: exponential, capped, and jittered the way the caller asked."""

from __future__ import annotations

import pytest

from portal.backoff import backoff_delay


@pytest.mark.parametrize(
    ("attempt", "ceiling"), [(0, 2.0), (1, 2.0), (2, 4.0), (3, 8.0), (6, 60.0), (500, 60.0)]
)
def test_no_jitter_doubles_from_the_base_up_to_the_cap(attempt: int, ceiling: float) -> None:
    assert backoff_delay(attempt, base=2, cap=60, jitter="none") == ceiling


@pytest.mark.parametrize("attempt", [1, 2, 5, 9, 10_000])
def test_equal_jitter_stays_between_half_the_delay_and_the_delay(attempt: int) -> None:
    ceiling = min(60.0, 2.0 * 2 ** (attempt - 1)) if attempt < 64 else 60.0
    delays = [backoff_delay(attempt, base=2, cap=60, jitter="equal") for _ in range(200)]
    assert all(ceiling / 2 <= d <= ceiling for d in delays)
    assert len(set(delays)) > 1


@pytest.mark.parametrize("attempt", [1, 4, 12])
def test_full_jitter_stays_between_zero_and_the_delay(attempt: int) -> None:
    ceiling = min(900.0, 2.0 * 2 ** (attempt - 1))
    delays = [backoff_delay(attempt, base=2, cap=900, jitter="full") for _ in range(200)]
    assert all(0 <= d <= ceiling for d in delays)
    assert len(set(delays)) > 1


def test_equal_jitter_is_the_default() -> None:
    assert all(4 <= backoff_delay(3, base=2, cap=60) <= 8 for _ in range(50))


@pytest.mark.parametrize(
    "kwargs", [{"base": -1, "cap": 5}, {"base": 1, "cap": -5}, {"base": 1, "cap": 5, "jitter": "some"}]
)
def test_bad_arguments_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        backoff_delay(1, **kwargs)  # type: ignore[arg-type]
