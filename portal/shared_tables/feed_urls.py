"""The reference feed (`/feed/v1/{market}`), served from the shared tables through the reader."""

from django.urls import URLPattern, URLResolver, re_path

from portal.shared_tables import feed

app_name = "feed"

urlpatterns: list[URLPattern | URLResolver] = [
    re_path(r"^v1/(?P<market>[^/]+)/?$", feed.feed, name="market"),
]
