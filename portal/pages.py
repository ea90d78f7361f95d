"""The plumbing every portal page shares: the acting user, login, the styled 403 for a refusal and
404 for a missing object (full page or HTMX fragment), and fragment-or-page rendering.

One way to refuse: a view (or the service it calls) raises `AccessDenied` (any `PermissionDenied`
works too) and `portal_view` answers with the portal's 403 page that says why. A refusal is not an
error: it is logged once, at INFO, on the `portal.access` logger, without a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render, resolve_url
from django.urls import Resolver404
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django_htmx.http import HttpResponseClientRedirect

from accounts.models import User
from portal.errors import NotFound

View = Callable[..., HttpResponseBase]

access_log = logging.getLogger("portal.access")

DEFAULT_REFUSAL = "You are not allowed to do that."
DEFAULT_NOT_FOUND = "There is no such page or item."


def actor_of(request: HttpRequest) -> User:
    """Return the logged-in user making the change (portal_view sent anonymous users to log in)."""
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied("Log in to make changes.")
    return user


def is_htmx(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False))


def _mark_logged(response: HttpResponseBase) -> None:
    # Django logs every 4xx again at WARNING on `django.request`; these answers are logged here
    # (or are ordinary), so that second line would only be noise in the error reports.
    setattr(response, "_has_been_logged", True)  # noqa: B010  (a private flag Django reads)


def forbidden(request: HttpRequest, exc: PermissionDenied | None = None) -> HttpResponse:
    """Answer 403 with a page (or, for HTMX, a fragment) that says what was refused, and log it."""
    message = (str(exc) if exc is not None else "") or DEFAULT_REFUSAL
    user = getattr(request, "user", None)
    who = user.get_username() if user is not None and user.is_authenticated else "anonymous"
    access_log.info(
        "Refused %s %s %s: %s",
        who,
        request.method,
        request.get_full_path(),
        message,
        extra={"user": who, "path": request.get_full_path(), "reason": message},
    )
    template = "portal/_forbidden.html" if is_htmx(request) else "portal/forbidden.html"
    response = render(request, template, {"message": message}, status=403)
    _mark_logged(response)
    return response


def not_found(request: HttpRequest, exc: Exception | None = None) -> HttpResponse:
    """Answer 404 with the portal's page (or, for HTMX, a fragment), even when DEBUG is on."""
    # Http404 from get_object_or_404 names the model's internals; say it in the editors' words.
    named = isinstance(exc, Http404 | NotFound) and not isinstance(exc, Resolver404)
    text = str(exc) if named else ""
    message = text if text and "matches the given query" not in text else DEFAULT_NOT_FOUND
    template = "portal/_not_found.html" if is_htmx(request) else "404.html"
    return render(request, template, {"message": message}, status=404)


def safe_next(request: HttpRequest, target: str | None, fallback: str) -> str:
    """Return `target` when it stays on this site (Django's own check), else `fallback`.

    `url_has_allowed_host_and_scheme` refuses `//evil.example`, `https://evil.example`, `/\\evil`
    and the other spellings browsers read as another host; a hand-written prefix check misses some.
    """
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


def login_redirect(request: HttpRequest) -> HttpResponseBase:
    """Send an anonymous request to the login page, coming back here afterwards."""
    if is_htmx(request):
        # A fragment request after the session ended: send the whole page to the login.
        query = urlencode({"next": request.path})
        return HttpResponseClientRedirect(f"{resolve_url(settings.LOGIN_URL)}?{query}")
    return redirect_to_login(request.get_full_path())


def portal_view(view: View) -> View:
    """Require a login; answer a refusal with the styled 403 and a missing object with the 404."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return login_redirect(request)
        try:
            return view(request, *args, **kwargs)
        except PermissionDenied as exc:  # AccessDenied included
            return forbidden(request, exc)
        except (ObjectDoesNotExist, Http404, NotFound) as exc:
            return not_found(request, exc)

    # A mark that survives Django's own decorators (they copy __dict__), so a test can prove that
    # every page of the portal goes through here.
    wrapper.portal_view = True  # type: ignore[attr-defined]  # a function attribute mypy cannot see
    return wrapper


def page(
    request: HttpRequest,
    template: str,
    context: dict[str, Any],
    *,
    fragment: str | None = None,
    status: int = 200,
) -> HttpResponse:
    """Render the whole page, or only `fragment` when HTMX asked for a part of it."""
    htmx = getattr(request, "htmx", None)
    # A history restore after a cache miss needs the whole page, not the fragment.
    wants_fragment = bool(htmx) and not getattr(htmx, "history_restore_request", False)
    response = render(request, fragment if fragment and wants_fragment else template, context, status=status)
    # The same URL answers with a page or a fragment: caches must keep them apart.
    patch_vary_headers(response, ["HX-Request"])
    return response
