"""The shapes of shared-table items that more than one writer builds: times, markets, groups, rights.

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
    binding: bool = False,
) -> dict[str, Any]:
    """Return one rule as a `markets` item (of a market or a group) lists it."""
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
        "binding": bool(binding),
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
    groups: Sequence[str] = (),
) -> Item:
    """Return the `markets` item of one market with its rules (ordered by id).

    `groups` lists the codes of the market's groups strongest first (by priority, then code).
    """
    return {
        "market": code,
        "kind": "market",
        "groups": list(groups),
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


def group_item(
    *,
    code: str,
    name: str,
    priority: int,
    members: Sequence[str],
    active: bool,
    version: int,
    updated_at: datetime | None,
    rules: Sequence[dict[str, Any]],
) -> Item:
    """Return the `markets` item of one market group, keyed by its code like a market.

    Group codes never equal a market code, so groups share the `markets` table; their positions
    share the `positions` table under the group's code. Published once per group, never fanned
    out to the members.
    """
    return {
        "market": code,
        "kind": "group",
        "name": name,
        "priority": int(priority),
        "members": sorted(members),
        "active": bool(active),
        "rules": list(rules),
        "version": int(version),
        "updated_at": iso(updated_at),
        "schema_version": SCHEMA_VERSION,
    }


def rights_entry(
    *,
    allow: Sequence[str] = (),
    deny: Sequence[str] = (),
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
) -> dict[str, Any] | None:
    """Return a content item's `rights` attribute, or None when the item carries no restriction."""
    if not allow and not deny and starts_at is None and ends_at is None:
        return None
    return {
        "allow": sorted(allow),
        "deny": sorted(deny),
        "starts_at": iso(starts_at),
        "ends_at": iso(ends_at),
    }
