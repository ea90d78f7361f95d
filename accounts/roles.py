"""The roles a membership grants, and where a membership came from."""

from __future__ import annotations

from django.db import models


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    EDITOR = "editor", "Editor"
    MARKET_MANAGER = "market_manager", "Market manager"
    REVIEWER = "reviewer", "Reviewer"


class MembershipSource(models.TextChoices):
    # Manual memberships are granted in Meridian; SSO ones mirror the provider's groups and are
    # replaced at each single sign-on login (accounts/sso/, docs/sso.md).
    MANUAL = "manual", "Manual"
    SSO = "sso", "Single sign-on"


# Roles that are never scoped to a market.
GLOBAL_ROLES = frozenset({Role.ADMIN, Role.REVIEWER})
