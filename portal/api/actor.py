"""The acting user of an API request, typed: what `portal.pages.actor_of` is for portal pages."""

from __future__ import annotations

from rest_framework.exceptions import NotAuthenticated
from rest_framework.request import Request

from accounts.models import User


def api_actor(request: Request) -> User:
    """Return the authenticated user making the change. Raises NotAuthenticated (401) otherwise.

    Every API view requires authentication first, so the error only guards a misconfigured view.
    """
    user = request.user
    if not isinstance(user, User):
        raise NotAuthenticated("Authenticate to make changes.")
    return user
