"""Template context every page needs: the navigation the user's role allows."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from accounts.access import Action, can


def navigation(request: HttpRequest) -> dict[str, Any]:
    """Return flags for the navigation links the current user may use."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav": {}}
    return {
        "nav": {
            "content": can(user, Action.VIEW_CONTENT),
            "markets": can(user, Action.VIEW_MARKET),
            "schedule": can(user, Action.VIEW_MARKET),
            "audit": can(user, Action.VIEW_AUDIT),
            "labels": can(user, Action.REVIEW_LABELS),
            # Moderation policies are market settings: managers of a market, and admins.
            "moderation": can(user, Action.EDIT_MARKET_SETTINGS),
            "partners": can(user, Action.MANAGE_PARTNERS),
            "publishing": can(user, Action.MANAGE_MARKETS),
            "admin": user.is_superuser,
            "sso": can(user, Action.MANAGE_USERS),
        }
    }
