"""The plumbing every portal page shares: the acting user, login, the styled 403 for AccessDenied
(full page or HTMX fragment), and fragment-or-page rendering."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render, resolve_url
from django.utils.cache import patch_vary_headers
from django_htmx.http import HttpResponseClientRedirect

from accounts.access import AccessDenied
from accounts.models import User

View = Callable[..., HttpResponse]


def actor_of(request: HttpRequest) -> User:
    """Return the logged-in user making the change (portal_view sent anonymous users to log in)."""
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied("Log in to make changes.")
    return user


def is_htmx(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False))


def forbidden(request: HttpRequest, exc: AccessDenied | None = None) -> HttpResponse:
    """Answer 403 with a page (or, for HTMX, a fragment) that says what was refused."""
    message = str(exc) if exc is not None else "You are not allowed to do that."
    template = "portal/_forbidden.html" if is_htmx(request) else "portal/forbidden.html"
    return render(request, template, {"message": message}, status=403)


def portal_view(view: View) -> View:
    """Require a login, then turn AccessDenied into a 403 page and a missing object into 404."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            if is_htmx(request):
                # A fragment request after the session ended: send the whole page to the login.
                return HttpResponseClientRedirect(f"{resolve_url(settings.LOGIN_URL)}?next={request.path}")
            return redirect_to_login(request.get_full_path())
        try:
            return view(request, *args, **kwargs)
        except AccessDenied as exc:
            return forbidden(request, exc)
        except ObjectDoesNotExist as exc:
            raise Http404(str(exc)) from exc

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
