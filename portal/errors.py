"""Errors services raise that views and API views turn into clear answers."""

from __future__ import annotations

from typing import Any


class Conflict(Exception):
    """A change was made against a stale version; `current` describes what is stored now."""

    def __init__(self, message: str, *, current: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.current = current or {}


class NotFound(Exception):
    """A named object (market, content item) does not exist."""
