"""Session limit: a maximum age after login (the provider's periodic re-check: refresh.py)."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse

from accounts.sso.sessions import seconds_since_login


class SessionAgeMiddleware:
    """Log a session out SESSION_MAX_AGE_SECONDS after its login, however active it has been."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # Requests without a session cookie (API tokens, partner keys, the public feed) must not
        # even touch the session: that alone would add `Vary: Cookie` and load nothing useful.
        if settings.SESSION_COOKIE_NAME not in request.COOKIES:
            return self.get_response(request)
        age = seconds_since_login(request)
        if age is not None and age > settings.SESSION_MAX_AGE_SECONDS and request.user.is_authenticated:
            logout(request)
            # The request goes on as anonymous: each view answers as it does to anyone logged out
            # (a redirect to the login page, an HTMX client redirect, an API 401/403).
            messages.info(request, "Your session has ended: please log in again.")
        return self.get_response(request)
