"""Limits every content service shares."""

from __future__ import annotations

from datetime import UTC, datetime

BATCH_SIZE = 1000
MAX_UPSERT_ROWS = 1000
EARLIEST_PUBLISHED = datetime(1888, 1, 1, tzinfo=UTC)
POSITION_FIELDS = ("state", "boost", "slot", "section", "starts_at", "ends_at", "reason")
