"""The provider's periodic re-check of SSO sessions (installed only when single sign-on is on)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.deprecation import MiddlewareMixin
from mozilla_django_oidc.middleware import SessionRefresh

from accounts.sso import discovery


class SsoSessionRefresh(SessionRefresh):
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
