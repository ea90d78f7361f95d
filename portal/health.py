"""Health checks for Route 53 (HTTPS_STR_MATCH on "ok") and for operators."""

from __future__ import annotations

from collections.abc import Callable

from django.db import connection
from django.http import HttpRequest, HttpResponse

HEALTH_PATH = "/healthcheck"
DEEP_HEALTH_PATH = "/healthcheck/deep"


class HealthCheckMiddleware:
    """Answer the health paths before any other middleware (ALLOWED_HOSTS, sessions, auth).

    Matched on `path_info`, which excludes the `/<stage>` prefix on API Gateway's own host.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info.rstrip("/") or "/"
        if path in (HEALTH_PATH, DEEP_HEALTH_PATH):
            if request.method not in ("GET", "HEAD"):
                response = HttpResponse("method not allowed\n", status=405, content_type="text/plain")
                response["Allow"] = "GET, HEAD"
                return response
            if path == DEEP_HEALTH_PATH:
                return deep_health()
            return _plain("ok\n")
        return self.get_response(request)


def _plain(body: str, status: int = 200) -> HttpResponse:
    response = HttpResponse(body, status=status, content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = "no-store"
    return response


def deep_health() -> HttpResponse:
    """Answer 200 "ok" when the database answers a trivial query, else 503."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any database failure means "not healthy", never a 500
        return _plain(f"database unavailable: {type(exc).__name__}\n", status=503)
    return _plain("ok\n")
