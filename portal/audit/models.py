"""The audit log: one entry per change, by a person, a token or the system."""

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
    # The entry this one undoes, when it was written by a revert from the audit log.
    reverts = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reverted_by"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["object_type", "object_id"], name="audit_object_idx"),
            models.Index(fields=["market_code", "-created_at"], name="audit_market_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_name} {self.action} {self.object_repr}"
