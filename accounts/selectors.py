"""Reads for users and API tokens."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.access import Action, can
from accounts.models import ApiToken, User


def visible_tokens(user: User) -> QuerySet[ApiToken]:
    """Return the tokens `user` may see and revoke: their own, or every token for admins."""
    tokens = ApiToken.objects.select_related("user")
    return tokens if can(user, Action.MANAGE_USERS) else tokens.filter(user=user)
