"""REST API v1 routes for single sign-on group mappings (included from portal/api/urls.py)."""

from django.urls import URLPattern, URLResolver, path

from accounts.sso.api import SsoGroupMappingViewSet

urlpatterns: list[URLPattern | URLResolver] = [
    path(
        "sso/mappings/",
        SsoGroupMappingViewSet.as_view({"get": "list", "post": "create"}),
        name="api-sso-mapping-list",
    ),
    path(
        "sso/mappings/<int:pk>/",
        SsoGroupMappingViewSet.as_view({"delete": "destroy"}),
        name="api-sso-mapping-detail",
    ),
]
