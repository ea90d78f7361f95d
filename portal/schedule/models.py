"""Calendar feed tokens: the secret in an editor's calendar subscription URL."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class CalendarFeedToken(models.Model):
    """A user's calendar feed secret; only its SHA-256 hash is stored (like API tokens).

    The feed answers for the markets the user may view at the time of each request, so a
    membership taken away also takes the market out of the feed; revoking ends the feed.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feed_tokens"
    )
    # The first characters, shown to tell links apart; not enough to guess one.
    prefix = models.CharField(max_length=16)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"calendar feed {self.prefix}… of {self.user_id}"
