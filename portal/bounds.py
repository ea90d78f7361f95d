"""Input bounds every entry point shares: lengths of free text, list sizes, the range of times.

Whatever ends up in a shared-table item (DynamoDB caps an item at 400 KB) or in a database column
is bounded where it comes in, so a huge or absurd value is a field error, never a stored row that
can no longer be published. docs/security.md lists every bound and where it is enforced.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

# Free text.
NAME_MAX = 120  # market, partner, plan, token and key names
TITLE_MAX = 500  # content titles
SUMMARY_MAX = 5_000  # content summaries
NOTE_MAX = 2_000  # rule and position notes, reasons, comments
# Counts people type (bursts, quotas, top-ups): a PostgreSQL integer column.
INT32_MAX = 2**31 - 1
# Lists that end up in a shared item.
LANGUAGES_MAX = 50  # languages of one market
MATCH_TERMS_MAX = 200  # tags, content types or sources one rule matches
ITEM_TAGS_MAX = 200  # tags on one content item (its shared `content` item carries them all)
TERM_MAX = 120  # one tag, content type or source a rule matches
RIGHTS_MARKETS_MAX = 500  # market codes in one content item's rights `allow` (or `deny`) list

# Times: every zone's offset is under a day, so a time in this range converts to and from any
# zone without Python's OverflowError (0001-01-01T00:00+05:00 is before year 1 in UTC).
EARLIEST = datetime(2, 1, 1, tzinfo=UTC)
LATEST = datetime(9998, 12, 31, tzinfo=UTC)
OUT_OF_RANGE = "This time is out of range (years 2 to 9998)."


def datetime_range_error(value: datetime) -> str | None:
    """Return why aware `value` is out of the supported range, or None (naive values are UTC)."""
    try:
        utc = value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)
    except OverflowError:
        return OUT_OF_RANGE
    if not EARLIEST <= utc <= LATEST:
        return OUT_OF_RANGE
    return None


def wall_clock_range_error(value: datetime) -> str | None:
    """Return why naive wall-clock `value` is too close to year 1 or 9999 for any zone, or None."""
    if not (EARLIEST + timedelta(days=1)).replace(tzinfo=None) <= value <= LATEST.replace(tzinfo=None):
        return OUT_OF_RANGE
    return None


# ASCII digits only, and few enough for a bigint: str.isdigit() is true for "²" (which int()
# refuses) and int() of 5,000 digits raises; 10**20 overflows PostgreSQL's bigint.
_WHOLE = re.compile(r"[0-9]{1,18}")


def whole_number(raw: str | None) -> int | None:
    """Return `raw` as an int when it is 1-18 ASCII digits, else None."""
    return int(raw) if raw is not None and _WHOLE.fullmatch(raw) else None
