"""The outbox: every change the shared admin tables must reflect, written in its transaction."""

from __future__ import annotations

from django.db import models


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
