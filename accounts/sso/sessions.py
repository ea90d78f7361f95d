"""When the session's user last proved who they are: the clock behind session age and re-auth.

Django's `last_login` is per user, so a fresh login on a phone would make a week-old laptop
session look fresh; this time is kept per session instead, set by every `login()` (password, SSO,
re-authentication) through Django's own `user_logged_in` signal.
"""

from __future__ import annotations

import time
from typing import Any

from django.contrib.auth.signals import user_logged_in
from django.http import HttpRequest

AUTH_AT = "meridian_auth_at"


def mark_authenticated(request: HttpRequest) -> None:
    """Note in the session that its user has just authenticated."""
    request.session[AUTH_AT] = time.time()


def seconds_since_login(request: HttpRequest) -> float | None:
    """Return how long ago the session's user authenticated (None: unknown, an older session)."""
    at = request.session.get(AUTH_AT)
    return None if at is None else time.time() - float(at)


def _record_login(sender: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:
    if request is not None and hasattr(request, "session"):
        mark_authenticated(request)


user_logged_in.connect(_record_login, dispatch_uid="meridian-session-auth-time")
