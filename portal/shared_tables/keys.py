"""Keys of shared items as the outbox and the item builders name them."""

from __future__ import annotations


def position_key(market_code: str, content_id: str) -> str:
    """Return the outbox key of a position: `MARKET|content_id`."""
    return f"{market_code}|{content_id}"
