"""Refuse requests no view can serve before they reach one: a NUL byte in the path or query.

PostgreSQL cannot store or compare text with NUL (`ValueError: A string literal cannot contain
NUL`), so a NUL that reaches a lookup (`/markets/%00/`, `?market=%00`) would be a 500. One
middleware answers them all (404 for a path, 400 for a query) instead of each view checking.
Form and serializer fields refuse NUL in bodies: Django's and DRF's CharField do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseNotFound, JsonResponse

NUL = "\x00"
_JSON_PREFIXES = ("/api/", "/feed/")


def nul_fields(request: HttpRequest) -> list[str] | None:
    """Return the query keys whose name or value holds a NUL (`[]` for the path), or None if none."""
    bad = [
        key.replace(NUL, "\\0")
        for key, values in request.GET.lists()
        if NUL in key or any(NUL in v for v in values)
    ]
    if bad or NUL in request.path_info:
        return bad
    return None


class RefuseNulMiddleware:
    """Answer 404 to a path and 400 to a query string that holds a NUL byte."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        fields = nul_fields(request)
        if fields is None:
            return self.get_response(request)
        api = request.path_info.startswith(_JSON_PREFIXES)
        if NUL in request.path_info:
            # No market, item or key has a NUL in its name: the page does not exist.
            if api:
                return JsonResponse({"detail": "Not found."}, status=404)
            return HttpResponseNotFound("Not found.", content_type="text/plain; charset=utf-8")
        message = "The query holds a NUL character, which no page or API accepts."
        if api:
            # Like a field error of the API: each offending query parameter is named.
            body: dict[str, Any] = {name: ["Contains a NUL character."] for name in fields}
            return JsonResponse({**body, "detail": message}, status=400)
        return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")
