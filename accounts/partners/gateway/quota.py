"""Quota periods as API Gateway counts them: UTC days, weeks or months, starting on `offset`.

AWS's documents disagree on `offset`: the SDK references call it "the day that a time period
starts" (WEEK: 0 = Sunday, 1 = Monday), the current API reference "the number of requests
subtracted from the limit in the initial period". Meridian follows the first reading and the
ranges it implies (DAY 0, WEEK 0-6, MONTH 0-27); see docs/partners.md.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

PERIODS = ("DAY", "WEEK", "MONTH")
MAX_OFFSET = {"DAY": 0, "WEEK": 6, "MONTH": 27}


def offset_error(period: str, offset: int) -> str | None:
    """Return why `offset` is not valid for `period`, or None."""
    if period not in MAX_OFFSET:
        return f"The period must be one of {', '.join(PERIODS)}."
    top = MAX_OFFSET[period]
    if offset < 0 or offset > top:
        if top == 0:
            return "A daily quota starts at midnight UTC: its offset must be 0."
        if period == "WEEK":
            return "A weekly quota's offset is the day it starts: 0 (Sunday) to 6 (Saturday)."
        return "A monthly quota's offset is the day it starts: 0 (the 1st) to 27 (the 28th)."
    return None


def _month_start(year: int, month: int, day: int) -> date:
    while month < 1:
        month += 12
        year -= 1
    while month > 12:
        month -= 12
        year += 1
    return date(year, month, day)


def period_bounds(period: str, offset: int, at: datetime) -> tuple[datetime, datetime]:
    """Return the [start, end) in UTC of the quota period containing `at`."""
    today = at.astimezone(UTC).date()
    if period == "WEEK":
        # AWS counts Sunday as 0; Python's weekday() counts Monday as 0.
        first_weekday = (offset - 1) % 7
        start = today - timedelta(days=(today.weekday() - first_weekday) % 7)
        end = start + timedelta(days=7)
    elif period == "MONTH":
        first_day = offset + 1
        if today.day >= first_day:
            start = _month_start(today.year, today.month, first_day)
        else:
            start = _month_start(today.year, today.month - 1, first_day)
        end = _month_start(start.year, start.month + 1, first_day)
    else:
        start = today
        end = today + timedelta(days=1)
    return (
        datetime.combine(start, time.min, tzinfo=UTC),
        datetime.combine(end, time.min, tzinfo=UTC),
    )


def period_id(period: str, offset: int, at: datetime) -> str:
    """Return a stable name for the period containing `at` (its first day), for counter keys."""
    return period_bounds(period, offset, at)[0].date().isoformat()
