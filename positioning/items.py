"""The shapes of shared-table items that more than one writer builds: times and market items.

Pure functions over plain values, so that the portal's publisher, its input guards (a market's
rules must fit in one 400 KB item) and other writers produce byte-identical items.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from positioning.tables import SCHEMA_VERSION, Item


def iso(value: datetime | None) -> str | None:
    """Return `value` as ISO-8601 UTC with a `Z` suffix (None stays None)."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def rule_entry(
    *,
    rule_id: Any,
    action: str,
    match_tags: Sequence[str],
    match_content_types: Sequence[str],
    match_sources: Sequence[str],
    boost: int,
    starts_at: datetime | None,
    ends_at: datetime | None,
    note: str,
) -> dict[str, Any]:
    """Return one rule as the `markets` item lists it."""
    return {
        "id": str(rule_id),
        "action": action,
        "match": {
            "tags": sorted(match_tags or ()),
            "content_types": sorted(match_content_types or ()),
            "sources": sorted(match_sources or ()),
        },
        "boost": int(boost or 0),
        "starts_at": iso(starts_at),
        "ends_at": iso(ends_at),
        "note": note or "",
    }


def market_item(
    *,
    code: str,
    name: str,
    languages: Sequence[str],
    timezone: str,
    default_visibility: str,
    active: bool,
    version: int,
    updated_at: datetime | None,
    rules: Sequence[dict[str, Any]],
) -> Item:
    """Return the `markets` item of one market with its rules (ordered by id)."""
    return {
        "market": code,
        "name": name,
        "languages": list(languages or ()),
        "timezone": timezone,
        "default_visibility": default_visibility,
        "active": bool(active),
        "rules": list(rules),
        "version": int(version),
        "updated_at": iso(updated_at),
        "schema_version": SCHEMA_VERSION,
    }
