"""An event occurrence before it is stored: what detectors yield and services raise."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from portal.notifications.kinds import EventKind
from portal.notifications.models import Severity


@dataclass(frozen=True)
class Occurrence:
    """One event occurrence, before it is stored."""

    kind: EventKind
    key: str
    title: str
    body: str = ""
    link: str = ""
    severity: Severity = Severity.WARNING
    market_id: int | None = None
    partner_id: int | None = None
    data: dict[str, Any] = field(default_factory=dict)
    # Addressed to these users only (still subject to who may see the kind); None: everyone who may.
    recipients: tuple[int, ...] | None = None
