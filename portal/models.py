"""Cross-cutting records: the audit log and the shared-tables outbox."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class AuditEntry(models.Model):
    """One change made by a person or a token: who, what, where, before and after."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Kept as text so the entry still reads right after the user is renamed or deleted.
    actor_name = models.CharField(max_length=150)
    action = models.CharField(max_length=64, db_index=True)
    market_code = models.CharField(max_length=32, blank=True, db_index=True)
    object_type = models.CharField(max_length=32)
    object_id = models.CharField(max_length=200)
    object_repr = models.CharField(max_length=300, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    # Groups the entries of one bulk change so the log can show them together.
    batch = models.UUIDField(null=True, blank=True, db_index=True)
    via = models.CharField(max_length=16, default="portal")  # portal | api | command | system

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["object_type", "object_id"], name="audit_object_idx"),
            models.Index(fields=["market_code", "-created_at"], name="audit_market_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_name} {self.action} {self.object_repr}"


class OutboxKind(models.TextChoices):
    MARKET = "market", "Market"
    POSITION = "position", "Position"
    CONTENT = "content", "Content item"
    IMAGE = "image", "Image"


class OutboxStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PUBLISHED = "published", "Published"
    DEAD = "dead", "Dead letter"


class OutboxEntry(models.Model):
    """A change the shared admin tables must reflect, written in the change's transaction.

    `key` names the shared item: the market code, `MARKET|content_id`, a content id or an image id.
    The publisher builds the item from committed state, so the row carries no payload.
    """

    kind = models.CharField(max_length=16, choices=OutboxKind.choices)
    key = models.CharField(max_length=300)
    version = models.PositiveBigIntegerField()
    status = models.CharField(max_length=16, choices=OutboxStatus.choices, default=OutboxStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["status", "id"], name="outbox_status_idx"),
            models.Index(fields=["kind", "key"], name="outbox_key_idx"),
        ]
        verbose_name_plural = "outbox entries"

    def __str__(self) -> str:
        return f"{self.kind}:{self.key} v{self.version} ({self.status})"


from portal.idempotency import IdempotencyRecord  # noqa: E402,F401  (registers the model)
