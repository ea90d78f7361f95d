"""The content board, bulk positioning and item pages."""

from django.urls import URLPattern, URLResolver, path

from content import views

app_name = "content"

# Upstream ids are opaque strings that may contain slashes, hence `path`; the more specific
# routes come first so that an item page never swallows them.
urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.board, name="board"),
    path("count/", views.board_count, name="count"),
    path("bulk/", views.bulk, name="bulk"),
    path("items/<path:upstream_id>/tags/", views.item_tags, name="tags"),
    path("items/<path:upstream_id>/positions/<str:market_code>/", views.position_edit, name="position"),
    path("items/<path:upstream_id>/", views.detail, name="detail"),
]
