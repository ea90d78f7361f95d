"""Partners, usage plans and partner API keys (API Gateway's usage plans, mirrored).

The database is the source of truth; each plan and key also records its API Gateway id and
whether the gateway matches it (`sync_state`), which the gateway sync and reconcile maintain.
Only a SHA-256 hash of a key's secret is ever stored.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxLengthValidator
from django.db import models

from portal.bounds import NOTE_MAX

__all__ = [
    "KeyStatus",
    "KeyUsage",
    "Partner",
    "PartnerApiKey",
    "QuotaPeriod",
    "QuotaTopUp",
    "SyncState",
    "TrafficHour",
    "TrafficImportCursor",
    "TrafficMinute",
    "TrafficSample",
    "UsagePlan",
]


class SyncState(models.TextChoices):
    PENDING = "pending", "Pending"
    SYNCED = "synced", "Synced"
    FAILED = "failed", "Failed"


class GatewaySynced(models.Model):
    """Fields every object mirrored on the gateway carries: its id there and the sync state."""

    gateway_id = models.CharField(max_length=64, blank=True, db_index=True)
    sync_state = models.CharField(max_length=16, choices=SyncState.choices, default=SyncState.PENDING)
    sync_error = models.TextField(blank=True)
    sync_attempts = models.PositiveIntegerField(default=0)
    synced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True


class Partner(models.Model):
    """A company whose apps call the public Content APIs with keys Meridian issues."""

    name = models.CharField(max_length=120, unique=True)
    contact_name = models.CharField(max_length=120, blank=True)
    contact_email = models.EmailField(blank=True)
    notes = models.TextField(blank=True, max_length=NOTE_MAX, validators=[MaxLengthValidator(NOTE_MAX)])
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class QuotaPeriod(models.TextChoices):
    DAY = "DAY", "Day"
    WEEK = "WEEK", "Week"
    MONTH = "MONTH", "Month"


class UsagePlan(GatewaySynced):
    """Throttle (steady rate, burst) and quota (limit per period) for the keys on it.

    `api_stages` lists `apiId:stage` strings; `method_throttles` maps `apiId:stage` to
    `{"/resource/METHOD": {"rate": float, "burst": int}}` (API Gateway's per-method throttles).
    A deleted plan is kept (deleted_at set) until the gateway has deleted its copy.
    """

    name = models.CharField(max_length=255)
    description = models.TextField(blank=True, max_length=NOTE_MAX, validators=[MaxLengthValidator(NOTE_MAX)])
    rate_limit = models.DecimalField(max_digits=10, decimal_places=3, help_text="Requests per second.")
    burst_limit = models.PositiveIntegerField()
    quota_limit = models.PositiveIntegerField(null=True, blank=True)
    quota_period = models.CharField(max_length=8, choices=QuotaPeriod.choices, blank=True)
    quota_offset = models.PositiveSmallIntegerField(default=0)
    api_stages = models.JSONField(default=list)
    method_throttles = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["name"],
                condition=models.Q(deleted_at__isnull=True),
                name="usageplan_unique_live_name",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def has_quota(self) -> bool:
        return self.quota_limit is not None and bool(self.quota_period)


class KeyStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended"
    REVOKED = "revoked", "Revoked"
    EXPIRED = "expired", "Expired"


# Revoked and expired keys never work again; the gateway deletes its copy.
FINAL_STATUSES = frozenset({KeyStatus.REVOKED, KeyStatus.EXPIRED})


class PartnerApiKey(GatewaySynced):
    """One partner app's key on one usage plan; the secret itself exists only once, at issue."""

    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="keys")
    plan = models.ForeignKey(UsagePlan, on_delete=models.PROTECT, related_name="keys")
    name = models.CharField(max_length=120)
    # Enough to recognise a key in a list or a support ticket, not enough to guess it.
    prefix = models.CharField(max_length=16)
    last_four = models.CharField(max_length=4)
    key_hash = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=16, choices=KeyStatus.choices, default=KeyStatus.ACTIVE)
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    # Rotation: the key this one replaced; its remaining quota is carried over once, on sync.
    replaces = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replaced_by"
    )
    carry_over_pending = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "expires_at"], name="partnerkey_status_expiry_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.display})"

    @property
    def display(self) -> str:
        return f"{self.prefix}…{self.last_four}"

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES


class KeyUsage(models.Model):
    """Requests one key made on one UTC day, and the quota it had left at the end of it."""

    key = models.ForeignKey(PartnerApiKey, on_delete=models.CASCADE, related_name="usage")
    day = models.DateField()
    used = models.PositiveIntegerField(default=0)
    remaining = models.IntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key", "day"]
        constraints = [models.UniqueConstraint(fields=["key", "day"], name="keyusage_unique_key_day")]

    def __str__(self) -> str:
        return f"{self.key_id} {self.day}: {self.used}"


class QuotaTopUp(GatewaySynced):
    """Extra requests granted to one key for the current quota period, with the reason why."""

    key = models.ForeignKey(PartnerApiKey, on_delete=models.CASCADE, related_name="top_ups")
    amount = models.PositiveIntegerField()
    reason = models.CharField(max_length=300)
    # The start of the quota period the extra requests belong to (UTC).
    period_start = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["key", "period_start"], name="topup_key_period_idx")]

    def __str__(self) -> str:
        return f"+{self.amount} for key {self.key_id}"


# The traffic area's models live in their sub-package; imported here so Django registers them.
from accounts.partners.traffic.models import (  # noqa: E402
    TrafficHour,
    TrafficImportCursor,
    TrafficMinute,
    TrafficSample,
)
