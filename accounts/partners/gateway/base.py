"""The gateway adapter interface: what Meridian asks of API Gateway (or of its local stand-in).

Backends receive plain data (`PlanSpec`, `KeySpec`), never models, so that they stay free of
Django and can be tested with boto3 alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol


class GatewayError(Exception):
    """A gateway call failed; `retryable` says whether trying again may help.

    `code` is AWS's error code (e.g. "NotFoundException", "" when there was no answer) and
    `status` its HTTP status (0 when there was no answer): callers decide by these, never by the
    message, which AWS may reword.
    """

    def __init__(self, message: str, *, retryable: bool = True, code: str = "", status: int = 0) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.code = code
        self.status = status


class SecretUnavailable(GatewayError):
    """The key must be created on the gateway, but its secret exists only at issue time."""

    def __init__(self) -> None:
        super().__init__(
            "The key never reached the gateway and its secret is not stored: retry from the portal "
            "to issue it with a new secret, or revoke it.",
            retryable=False,
        )


@dataclass(frozen=True)
class MethodThrottle:
    """A per-method throttle on one API stage: `path` is API Gateway's `/resource/METHOD`."""

    stage: str
    path: str
    rate: float
    burst: int


@dataclass(frozen=True)
class PlanSpec:
    """A usage plan as the gateway should hold it."""

    pk: int
    gateway_id: str
    name: str
    description: str
    rate: float
    burst: int
    quota_limit: int | None
    quota_period: str
    quota_offset: int
    stages: tuple[str, ...]
    method_throttles: tuple[MethodThrottle, ...] = ()


@dataclass(frozen=True)
class KeySpec:
    """A key as the gateway should hold it. `enabled` is False for suspended keys; `present` is
    False for revoked or expired keys, which the gateway deletes."""

    pk: int
    gateway_id: str
    name: str
    description: str
    enabled: bool
    present: bool
    plan_gateway_id: str
    plan_pk: int


@dataclass(frozen=True)
class DayUsage:
    """One key's use on one day: requests made and quota left at the end of the day."""

    day: date
    used: int
    remaining: int | None


@dataclass(frozen=True)
class Drift:
    """One difference between Meridian's records and the gateway."""

    kind: str  # plan | key
    pk: int | None
    gateway_id: str
    problem: str
    repairable: bool = True


@dataclass
class GatewayInventory:
    """What the gateway holds that Meridian tagged as its own (reconcile reads it once)."""

    plans: dict[str, dict[str, object]] = field(default_factory=dict)
    keys: dict[str, dict[str, object]] = field(default_factory=dict)
    plan_keys: dict[str, set[str]] = field(default_factory=dict)


class Gateway(Protocol):
    """What every backend implements. Methods raise GatewayError on failure."""

    name: str

    def validate_stages(self, stages: list[str]) -> dict[str, str]:
        """Return {stage: problem} for the `apiId:stage` entries that do not exist."""
        ...

    def plan_put(self, plan: PlanSpec) -> str:
        """Create or update the plan; return its gateway id."""
        ...

    def plan_delete(self, plan: PlanSpec) -> None:
        """Delete the plan (after removing its stages); a missing plan is not an error."""
        ...

    def key_put(self, key: KeySpec, secret: str | None) -> str:
        """Create (needs `secret`) or update the key and its plan membership; return its id."""
        ...

    def key_delete(self, key: KeySpec) -> None:
        """Remove the key from its plan, then delete it; a missing key is not an error."""
        ...

    def remaining(self, *, plan: PlanSpec, key: KeySpec, at: datetime) -> int | None:
        """Return the quota the key has left in the current period (None: no quota)."""
        ...

    def set_remaining(self, *, plan: PlanSpec, key: KeySpec, remaining: int, at: datetime) -> None:
        """Set the quota the key has left in the current period (rotation's carry-over)."""
        ...

    def add_remaining(self, *, plan: PlanSpec, key: KeySpec, amount: int, at: datetime) -> None:
        """Grant `amount` more requests in the current period (a top-up)."""
        ...

    def usage(
        self, *, plan: PlanSpec, keys: list[KeySpec], start: date, end: date
    ) -> dict[int, list[DayUsage]]:
        """Return per key pk the usage of each day from `start` to `end` inclusive."""
        ...

    def inventory(self) -> GatewayInventory | None:
        """Return what the gateway holds (None for a backend with nothing to compare)."""
        ...
