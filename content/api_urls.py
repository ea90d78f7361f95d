"""REST API v1 routes for content items, tags and positions (included from portal/api/urls.py)."""

from django.urls import URLPattern, URLResolver, path

from content.api import ContentViewSet, GroupPositionViewSet, PositionViewSet, TagViewSet

urlpatterns: list[URLPattern | URLResolver] = [
    path("content/", ContentViewSet.as_view({"get": "list"}), name="api-content-list"),
    path(
        "content/bulk-upsert/",
        ContentViewSet.as_view({"post": "bulk_upsert"}),
        name="api-content-bulk-upsert",
    ),
    path(
        "content/<str:upstream_id>/", ContentViewSet.as_view({"get": "retrieve"}), name="api-content-detail"
    ),
    path(
        "content/<str:upstream_id>/tags/", ContentViewSet.as_view({"post": "tags"}), name="api-content-tags"
    ),
    path("tags/", TagViewSet.as_view({"get": "list", "post": "create"}), name="api-tag-list"),
    path(
        "markets/<str:code>/positions/",
        PositionViewSet.as_view({"get": "list"}),
        name="api-position-list",
    ),
    # Before the detail route, so "bulk" is never read as a content id.
    path(
        "markets/<str:code>/positions/bulk/",
        PositionViewSet.as_view({"post": "bulk"}),
        name="api-position-bulk",
    ),
    path(
        "markets/<str:code>/positions/<str:content_id>/",
        PositionViewSet.as_view({"get": "retrieve", "put": "update", "delete": "destroy"}),
        name="api-position-detail",
    ),
    path(
        "groups/<str:group>/positions/",
        GroupPositionViewSet.as_view({"get": "list"}),
        name="api-group-position-list",
    ),
    path(
        "groups/<str:group>/positions/bulk/",
        GroupPositionViewSet.as_view({"post": "bulk"}),
        name="api-group-position-bulk",
    ),
    path(
        "groups/<str:group>/positions/<str:content_id>/",
        GroupPositionViewSet.as_view({"get": "retrieve", "put": "update", "delete": "destroy"}),
        name="api-group-position-detail",
    ),
]
