"""Notifications: one row per event occurrence, one receipt per recipient, preferences, webhooks."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from accounts.roles import Role
from portal.notifications.kinds import EventKind

__all__ = ["EventKind"]  # re-exported: the registry lives in kinds.py


class Channel(models.TextChoices):
    INBOX = "inbox", "In the portal"
    EMAIL = "email", "Email"
    DIGEST = "digest", "Daily digest"


class Severity(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"


class Notification(models.Model):
    """One occurrence of an event. `occurrence_key` is unique: detecting it again changes nothing."""

    # An EventKind value; no `choices`, so that a new kind (kinds.py) needs no migration.
    kind = models.CharField(max_length=32)
    occurrence_key = models.CharField(max_length=200, unique=True)
    severity = models.CharField(max_length=16, choices=Severity.choices, default=Severity.WARNING)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    # A path inside the portal: the page that resolves the event.
    link = models.CharField(max_length=300, blank=True)
    market = models.ForeignKey("markets.Market", null=True, blank=True, on_delete=models.CASCADE)
    partner = models.ForeignKey("accounts.Partner", null=True, blank=True, on_delete=models.CASCADE)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "portal"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["kind", "-created_at"])]

    def __str__(self) -> str:
        return self.title

    @property
    def kind_label(self) -> str:
        """The kind's label from the registry (the stored value, for a kind no longer registered)."""
        return str(EventKind(self.kind).label) if self.kind in EventKind.values else self.kind


class Receipt(models.Model):
    """A notification in one user's inbox, and what remains to send them by email or digest."""

    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="receipts")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    in_inbox = models.BooleanField(default=True)
    read_at = models.DateTimeField(null=True, blank=True)
    email_due = models.BooleanField(default=False)
    emailed_at = models.DateTimeField(null=True, blank=True)
    digest_due = models.BooleanField(default=False)
    digested_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "portal"
        constraints = [models.UniqueConstraint(fields=["notification", "user"], name="receipt_once_per_user")]
        indexes = [models.Index(fields=["user", "in_inbox", "read_at"])]


class Preference(models.Model):
    """Whether a channel is on for an event kind: a user's own choice, or an admin's default for a role.

    Exactly one of `user` and `role` is set. A user's own row wins; else any of their roles' rows
    that switches the channel on; else the built-in default (inbox on, email and digest off).
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE)
    role = models.CharField(max_length=32, choices=Role.choices, blank=True)
    kind = models.CharField(max_length=32)  # an EventKind value (see Notification.kind)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    enabled = models.BooleanField()

    class Meta:
        app_label = "portal"
        constraints = [
            models.UniqueConstraint(
                fields=["user", "kind", "channel"],
                condition=models.Q(user__isnull=False),
                name="pref_user_once",
            ),
            models.UniqueConstraint(
                fields=["role", "kind", "channel"],
                condition=models.Q(user__isnull=True),
                name="pref_role_once",
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(user__isnull=False, role="") | models.Q(user__isnull=True) & ~models.Q(role="")
                ),
                name="pref_user_or_role",
            ),
        ]


class WebhookEndpoint(models.Model):
    """An admin-registered URL that receives signed events of the chosen kinds (and markets)."""

    name = models.CharField(max_length=120)
    url = models.URLField(max_length=500)
    # Kept as is: HMAC signing needs the very key the receiver holds (a hash could not sign).
    secret = models.CharField(max_length=100)
    kinds = models.JSONField(default=list)
    # No market: every market (events without a market always go to every subscribed endpoint).
    markets = models.ManyToManyField("markets.Market", blank=True, related_name="+")
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "portal"
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    DEAD = "dead", "Dead letter"


class WebhookDelivery(models.Model):
    """One event on its way to one endpoint, with every attempt in `log`."""

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    notification = models.ForeignKey(Notification, null=True, blank=True, on_delete=models.CASCADE)
    event_id = models.UUIDField(default=uuid.uuid4, unique=True)
    event = models.CharField(max_length=32)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    log = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "portal"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "notification"],
                condition=models.Q(notification__isnull=False),
                name="delivery_once_per_endpoint",
            )
        ]
