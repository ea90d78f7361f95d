"""Users, their roles per market, and automation tokens."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone

from accounts.roles import GLOBAL_ROLES, MembershipSource, Role

__all__ = ["GLOBAL_ROLES", "ApiToken", "Membership", "MembershipSource", "Role", "User"]


class User(AbstractUser):
    """A person (or automation account) using Meridian; roles come from memberships."""

    def __str__(self) -> str:
        return self.get_full_name() or self.username


class Membership(models.Model):
    """A user's role in one market, in one market group (its members, now and later), or (both
    empty) in all markets."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=32, choices=Role.choices)
    market = models.ForeignKey(
        "markets.Market",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="memberships",
        help_text="Empty (and no group) means every market.",
    )
    group = models.ForeignKey(
        "markets.MarketGroup",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="role_memberships",
        help_text="The role covers every member market of this group, now and later.",
    )
    source = models.CharField(max_length=8, choices=MembershipSource.choices, default=MembershipSource.MANUAL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "role", "market"], name="membership_unique_in_market"),
            models.UniqueConstraint(
                fields=["user", "role"],
                condition=models.Q(market__isnull=True, group__isnull=True),
                name="membership_unique_all_markets",
            ),
            models.UniqueConstraint(
                fields=["user", "role", "group"],
                condition=models.Q(group__isnull=False),
                name="membership_unique_in_group",
            ),
            models.CheckConstraint(
                condition=models.Q(market__isnull=True) | models.Q(group__isnull=True),
                name="membership_market_or_group",
            ),
            models.CheckConstraint(
                condition=~models.Q(role__in=["admin", "reviewer"])
                | models.Q(market__isnull=True, group__isnull=True),
                name="membership_global_roles_unscoped",
            ),
        ]

    def __str__(self) -> str:
        if self.group_id:
            where = f"group {self.group.code}"  # type: ignore[union-attr]
        else:
            where = self.market.code if self.market_id else "all markets"  # type: ignore[union-attr]
        return f"{self.user} — {self.get_role_display()} ({where})"


class ApiToken(models.Model):
    """A named REST API token; only its SHA-256 hash is stored, the secret is shown once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=120)
    # The first characters of the token, shown to tell tokens apart; not enough to guess it.
    prefix = models.CharField(max_length=16)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["user", "name"], name="apitoken_unique_name_per_user")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def status(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= timezone.now():
            return "expired"
        return "active"


from accounts.partners.models import *  # noqa: E402,F401,F403
from accounts.sso.models import *  # noqa: E402,F401,F403
