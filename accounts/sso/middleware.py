"""Session limits: a maximum age after login, and the provider's periodic confirmation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.utils.deprecation import MiddlewareMixin
from mozilla_django_oidc.middleware import SessionRefresh

from accounts.sso import discovery
from accounts.sso.sessions import seconds_since_login


class SessionAgeMiddleware:
    """Log a session out SESSION_MAX_AGE_SECONDS after its login, however active it has been."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            age = seconds_since_login(request)
            if age is not None and age > settings.SESSION_MAX_AGE_SECONDS:
                logout(request)
                if request.method in ("GET", "HEAD") and not request.path.startswith("/api/"):
                    messages.info(request, "Your session has ended: please log in again.")
                    return redirect_to_login(request.get_full_path())
        return self.get_response(request)


class SsoSessionRefresh(SessionRefresh):  # type: ignore[misc]  # the library ships no type hints
    """mozilla-django-oidc's silent re-check (prompt=none) of SSO sessions, when SSO is on.

    The provider's endpoints are looked up on the first SSO session's request, not at start-up,
    so that a provider outage never blocks local sessions.
    """

    def __init__(self, get_response: Any) -> None:
        MiddlewareMixin.__init__(self, get_response)
        self.OIDC_EXEMPT_URLS = settings.OIDC_EXEMPT_URLS
        self._configured = False

    @staticmethod
    def get_settings(attr: str, *args: Any) -> Any:
        return discovery.setting(attr, *args)

    @property
    def exempt_urls(self) -> set[str]:
        # The parent reverses its own URL names, which Meridian's single sign-on URLs do not use.
        return set(settings.OIDC_EXEMPT_URLS)

    def process_request(self, request: HttpRequest) -> HttpResponse | None:
        if not settings.OIDC_ENABLED or not self.is_refreshable_url(request):
            return None
        if not self._configured:
            SessionRefresh.__init__(self, self.get_response)
            self._configured = True
        response: HttpResponse | None = super().process_request(request)
        return response
