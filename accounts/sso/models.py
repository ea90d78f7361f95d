"""Single sign-on records: which provider identity is which user, and what each group grants."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from accounts.roles import Role

__all__ = ["SsoGroupMapping", "SsoIdentity"]


class SsoIdentity(models.Model):
    """The provider's account behind a Meridian user: issuer + `sub` is the key, never the email."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sso_identity"
    )
    issuer = models.CharField(max_length=300)
    subject = models.CharField(max_length=255)
    email = models.EmailField(blank=True)
    # The groups the provider sent at the last login, as it spelled them.
    groups = models.JSONField(default=list, blank=True)
    last_login_at = models.DateTimeField(null=True, blank=True)
    # Set when single sign-on deactivated the user (no group grants anything); cleared when a
    # later login grants something again. A user deactivated by hand in Meridian stays inactive.
    deactivated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["issuer", "subject"], name="ssoidentity_unique_sub")]

    def __str__(self) -> str:
        return f"{self.subject} @ {self.issuer}"


class SsoGroupMapping(models.Model):
    """A provider group that grants a role in one market or (market empty) in all markets.

    The target is a market today; a market-group target (DACH, EU…) can be added later as one
    more nullable foreign key with a check that at most one target is set (docs/sso.md).
    """

    group_name = models.CharField(max_length=255, help_text="Exactly as the provider sends it.")
    role = models.CharField(max_length=32, choices=Role.choices)
    market = models.ForeignKey(
        "markets.Market",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Empty means every market.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["group_name", "role", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["group_name", "role", "market"], name="ssomapping_unique_in_market"
            ),
            models.UniqueConstraint(
                fields=["group_name", "role"],
                condition=models.Q(market__isnull=True),
                name="ssomapping_unique_all_markets",
            ),
            models.CheckConstraint(
                condition=~models.Q(role__in=["admin", "reviewer"]) | models.Q(market__isnull=True),
                name="ssomapping_global_roles_unscoped",
            ),
        ]

    def __str__(self) -> str:
        where = self.market.code if self.market_id else "all markets"  # type: ignore[union-attr]
        return f"{self.group_name} → {self.get_role_display()} ({where})"
