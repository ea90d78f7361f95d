"""REST API v1 routes for automation tokens (included from portal/api/urls.py)."""

from django.urls import URLPattern, URLResolver, path

from accounts.api import ApiTokenViewSet

urlpatterns: list[URLPattern | URLResolver] = [
    path("tokens/", ApiTokenViewSet.as_view({"get": "list", "post": "create"}), name="api-token-list"),
    path("tokens/<int:pk>/", ApiTokenViewSet.as_view({"delete": "destroy"}), name="api-token-detail"),
]
