"""What every partner service shares: the limits AWS imposes, the inputs and results services
exchange, the access check and the after-commit plumbing."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction

from accounts.access import Action, require
from accounts.models import User
from accounts.partners.gateway.base import Drift, MethodThrottle
from accounts.partners.models import (
    PartnerApiKey,
)

logger = logging.getLogger(__name__)

KEY_PREFIX = "mpk_"
# The first characters shown to tell keys apart: the scheme prefix plus six random characters.
SHOWN_PREFIX_LENGTH = len(KEY_PREFIX) + 6
# API Gateway's defaults for an account's throttle in a region (raisable, but a plan above them
# would never be honoured as written).
MAX_RATE = Decimal(10_000)
MAX_BURST = 5_000
MAX_QUOTA = 2_147_483_647
MAX_KEYS_PER_REGION = 10_000
MAX_GRACE = timedelta(days=30)
MAX_TOP_UP = 100_000_000
STAGE_RE = re.compile(r"^[A-Za-z0-9]+:[A-Za-z0-9_-]{1,128}$")
METHOD_PATH_RE = re.compile(r"^/\S*/(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS|\*)$")

PARTNER_FIELDS = ("name", "contact_name", "contact_email", "notes", "active")
PLAN_FIELDS = (
    "name",
    "description",
    "rate_limit",
    "burst_limit",
    "quota_limit",
    "quota_period",
    "quota_offset",
    "api_stages",
    "method_throttles",
)
KEY_FIELDS = ("name", "partner", "plan", "prefix", "last_four", "status", "expires_at")


@dataclass(frozen=True)
class IssuedKey:
    """A key just issued (or re-issued) and its secret, which exists only in this object."""

    key: PartnerApiKey
    secret: str

    def __repr__(self) -> str:  # never let a debug print or a traceback show the secret
        return f"IssuedKey(key={self.key.pk}, secret=<hidden>)"


@dataclass(frozen=True)
class PlanInput:
    """What a usage plan is made of, as the editor or the API gives it."""

    name: str
    rate_limit: Decimal | float | int | str
    burst_limit: int
    quota_limit: int | None = None
    quota_period: str = ""
    quota_offset: int = 0
    api_stages: Sequence[str] = ()
    method_throttles: Sequence[MethodThrottle] = ()
    description: str = ""


@dataclass
class ReconcileReport:
    """What reconcile found, and what it repaired."""

    drifts: list[Drift] = field(default_factory=list)
    repaired: list[Drift] = field(default_factory=list)
    failed: list[tuple[Drift, str]] = field(default_factory=list)


def _require(actor: User | None) -> None:
    if actor is not None:
        require(actor, Action.MANAGE_PARTNERS)


def _after_commit(func: Callable[[], Any]) -> None:
    transaction.on_commit(func)


def _forget_keys(*key_hashes: str) -> None:
    # Imported on use: enforcement loads `limits` and its storage client.
    from accounts.partners.enforcement import forget_keys

    forget_keys(*key_hashes)
