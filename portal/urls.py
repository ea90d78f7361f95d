"""Root URLs. Health checks are answered by middleware before routing."""

from csp.decorators import csp_update
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView
from rest_framework.permissions import IsAuthenticated

from portal import views

# The API docs are third-party pages with an inline <style> (both) and an inline init script plus
# web fonts (Redoc), so they get their own relaxed policy; every other page keeps the strict one.
# The split Swagger view serves its init script from a URL, so Swagger UI needs no inline script.
_swagger_csp = csp_update({"style-src": ["'unsafe-inline'"]})
_redoc_csp = csp_update(
    {
        "script-src": ["'unsafe-inline'"],
        "style-src": ["'unsafe-inline'", "https://fonts.googleapis.com"],
        "font-src": ["'self'", "https://fonts.gstatic.com"],
        "worker-src": ["blob:"],
    }
)

# The portal's own pages for refusals, unknown pages and errors (JSON under /api/).
handler403 = "portal.views.refused"
handler404 = "portal.views.missing"
handler500 = "portal.views.server_error"
# The schema and its pages describe every endpoint and field: for signed-in users and API tokens
# only (the API's own authentication: session or token; anonymous callers get 401).
_signed_in = {"permission_classes": [IsAuthenticated]}

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/sso/", include("accounts.sso.urls")),
    path("accounts/", include("accounts.urls")),
    path("markets/", include("markets.urls")),
    path("groups/", include("markets.groups.urls")),
    path("content/", include("content.urls")),
    path("audit/", include("portal.audit.urls")),
    path("publishing/", include("portal.shared_tables.urls")),
    path("partners/", include("accounts.partners.urls")),
    path("labels/", include("content.labels.urls")),
    path("feed/", include("portal.shared_tables.feed_urls")),
    path("notifications/", include("portal.notifications.urls")),
    path("requests/", include("portal.change_requests.urls")),
    path("schedule/", include("portal.schedule.urls")),
    path("calendar/", include("portal.schedule.feed_urls")),
    path("api/v1/", include("portal.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(**_signed_in), name="api-schema"),
    path(
        "api/docs/",
        _swagger_csp(SpectacularSwaggerSplitView.as_view(url_name="api-schema", **_signed_in)),
        name="api-docs",
    ),
    path(
        "api/redoc/",
        _redoc_csp(SpectacularRedocView.as_view(url_name="api-schema", **_signed_in)),
        name="api-redoc",
    ),
    path("django-admin/", admin.site.urls),
]
