"""Re-authentication before sensitive actions (issuing or rotating partner keys, creating tokens)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from accounts.sso.sessions import seconds_since_login

View = Callable[..., HttpResponse]


def login_is_recent(request: HttpRequest) -> bool:
    """Return whether the session's login is younger than SSO_REAUTH_MINUTES."""
    age = seconds_since_login(request)
    return age is not None and age <= settings.SSO_REAUTH_MINUTES * 60


def reauth_required(methods: Iterable[str] | None = None) -> Callable[[View], View]:
    """Send a logged-in user whose login is too old to re-authenticate, then back here.

    `methods` limits the check (e.g. ("POST",) for a page that lists on GET and creates on POST);
    None checks every method. A refused POST is not replayed: the user submits again.
    """
    guarded = {m.upper() for m in methods} if methods is not None else None

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if (
                request.user.is_authenticated
                and (guarded is None or request.method in guarded)
                and not login_is_recent(request)
            ):
                query = urlencode({"next": request.get_full_path()})
                return HttpResponseRedirect(f"{reverse('sso:reauth')}?{query}")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
