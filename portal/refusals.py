"""Refuse requests no view can serve before they reach one: a NUL byte in the path or query.

PostgreSQL cannot store or compare text with NUL (`ValueError: A string literal cannot contain
NUL`), so a NUL that reaches a lookup (`/markets/%00/`, `?market=%00`) would be a 500. One
middleware answers them all with a 400 instead of each view checking; form and serializer
fields refuse NUL in bodies (Django's and DRF's CharField do, see portal/bounds.py for the rest).
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse

NUL = "\x00"
_JSON_PREFIXES = ("/api/", "/feed/")


def has_nul(request: HttpRequest) -> bool:
    """Whether the path, a query key or a query value carries a NUL byte."""
    if NUL in request.path_info:
        return True
    return any(NUL in key or any(NUL in v for v in values) for key, values in request.GET.lists())


class RefuseNulMiddleware:
    """Answer 400 to a request whose path or query string holds a NUL byte."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if has_nul(request):
            message = "The address holds a NUL character, which no page or API accepts."
            if request.path_info.startswith(_JSON_PREFIXES):
                return JsonResponse({"detail": message}, status=400)
            return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")
        return self.get_response(request)
