"""REST API v1: each area keeps its routes in its own module."""

from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect, JsonResponse
from django.urls import Resolver404, include, path, re_path, resolve
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt  # answers 404 whatever the method: a CSRF refusal (HTML 403) would hide that
def api_not_found(request: HttpRequest, unmatched: str) -> HttpResponse:
    """Any other path under /api/v1/ (a non-numeric id, a typo): JSON like every API answer, not HTML."""
    if not request.path_info.endswith("/"):
        # What APPEND_SLASH does, which this catch-all would otherwise switch off.
        try:
            match = resolve(request.path_info + "/")
        except Resolver404:
            match = None
        if match is not None and match.func is not api_not_found:
            return HttpResponsePermanentRedirect(request.get_full_path(force_append_slash=True))
    return JsonResponse({"detail": "Not found."}, status=404)


urlpatterns = [
    path("", include("accounts.api_urls")),
    path("", include("accounts.sso.api_urls")),
    path("", include("markets.api_urls")),
    path("", include("markets.groups.api_urls")),
    path("", include("content.api_urls")),
    path("", include("accounts.partners.api_urls")),
    path("", include("content.labels.api_urls")),
    path("", include("portal.shared_tables.api_urls")),
    path("", include("portal.notifications.api_urls")),
    path("", include("portal.change_requests.api_urls")),
    path("", include("portal.audit.revert.api_urls")),
    re_path(r"^(?P<unmatched>.*)$", api_not_found),
]
