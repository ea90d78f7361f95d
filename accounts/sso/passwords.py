"""Local password logins, which production can switch off for all but break-glass admins.

Kept apart from backends.py so that password sessions never import the OpenID Connect stack
(PyJWT, cryptography, requests) on a Lambda cold start.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

from accounts.sso.selectors import local_login_allowed


class LocalPasswordBackend(ModelBackend):
    """Django's password login, refused for all but break-glass admins when local logins are off."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> Any:
        if username is not None and not local_login_allowed(username=username):
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
