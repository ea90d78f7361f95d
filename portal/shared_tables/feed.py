"""The reference feed: `GET /feed/v1/{market}?at=…&limit=…`, what partner keys call.

It serves a market's resolved feed over the catalogue the way the public Content API does: the
catalogue's most recent items stand in for the search engine's candidates, and every decision
comes from the shared tables through `positioning.reader`, not from Meridian's rules
and positions. JSON only; no session, no CSRF (GET/HEAD only; other methods get a JSON 405).
404 for a market that is not published, 400 for a bad `at` or `limit`, 503 while the shared
tables cannot be read.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_safe

from accounts.partners.enforcement import require_partner_key
from markets.codes import market_code_error
from portal.bounds import datetime_range_error
from portal.shared_tables.selectors import FEED_DEFAULT_LIMIT, FEED_MAX_LIMIT, ReferenceFeed, reference_feed
from positioning.tables import SharedTablesError

# An unencoded "+" in a query string arrives as a space: "…T06:00:00 10:00" meant "+10:00".
_SPACED_OFFSET = re.compile(r" (\d{2}(?::?\d{2})?)$")
_DIGITS = re.compile(r"[0-9]{1,6}")


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_feed_query(params: Any) -> tuple[datetime, int, dict[str, list[str]]]:
    """Return (at, limit, field errors) from the query string; `at` defaults to now."""
    errors: dict[str, list[str]] = {}
    at = timezone.now()
    raw_at = (params.get("at") or "").strip()
    if raw_at:
        try:
            at = datetime.fromisoformat(_SPACED_OFFSET.sub(r"+\1", raw_at))
        except ValueError:
            errors["at"] = ["Give an ISO-8601 time with a time zone, e.g. 2026-03-01T06:00:00Z."]
        else:
            if at.tzinfo is None or at.utcoffset() is None:
                errors["at"] = ["Give the time zone too, e.g. 2026-03-01T06:00:00Z or …+10:00."]
            elif range_error := datetime_range_error(at):
                errors["at"] = [range_error]
            else:
                at = at.astimezone(UTC)
    limit = FEED_DEFAULT_LIMIT
    raw_limit = (params.get("limit") or "").strip()
    if raw_limit:
        # ASCII digits only: str.isdigit() is true for "²", which int() then refuses.
        if not _DIGITS.fullmatch(raw_limit) or not 1 <= int(raw_limit) <= FEED_MAX_LIMIT:
            errors["limit"] = [f"Give a whole number from 1 to {FEED_MAX_LIMIT}."]
        else:
            limit = int(raw_limit)
    return at, limit, errors


def feed_payload(feed: ReferenceFeed) -> dict[str, Any]:
    """Return the JSON body of a resolved feed page."""
    market = feed.market
    return {
        "market": market.spec.code,
        "name": market.name,
        "active": market.active,
        "market_version": market.version,
        "at": _iso(feed.at),
        "limit": feed.limit,
        "candidates": feed.candidates,
        "items": [
            {
                "rank": rank,
                "content_id": entry.content_id,
                "title": entry.title,
                "url": entry.url,
                "published_at": _iso(entry.published_at),
                "content_type": entry.content_type,
                "source": entry.source,
                "tags": entry.tags,
                "state": entry.state,
                "decided_by": entry.decided_by,
                "boost": entry.boost,
                "slot": entry.slot,
                "rule_id": entry.rule_id,
                "reason": entry.reason,
                "image_blocks": entry.image_blocks,
            }
            for rank, entry in enumerate(feed.entries, start=1)
        ],
    }


# Partner API-key enforcement is the outermost decorator: a request without a valid key, or over
# its plan's rate or quota, is refused before any work is done.
@require_partner_key(resource="/feed/v1/{market}")
@require_safe
def feed(request: HttpRequest, market: str) -> JsonResponse:
    """Serve `market`'s resolved feed at `at` (default now), `limit` items (default 20, at most 100)."""
    code = market.strip().upper()
    at, limit, errors = parse_feed_query(request.GET)
    if errors:
        return JsonResponse(errors, status=400)
    if market_code_error(code):
        return JsonResponse({"detail": f"Unknown market {code!r}."}, status=404)
    try:
        page = reference_feed(market_code=code, at=at, limit=limit)
    except SharedTablesError:
        response = JsonResponse({"detail": "The feed is unavailable; try again shortly."}, status=503)
        response["Retry-After"] = "5"
        return response
    if page is None:
        return JsonResponse({"detail": f"Unknown market {code!r}."}, status=404)
    if not page.market.active:
        # The contract: an inactive market is not served (docs/shared-tables.md); its item, rules
        # and positions stay published, so a reactivation serves it again at once.
        return JsonResponse({"detail": f"Market {code!r} is inactive.", "active": False}, status=404)
    return JsonResponse(feed_payload(page))
