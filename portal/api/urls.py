"""REST API v1: each area keeps its routes in its own module."""

from django.urls import include, path

urlpatterns = [
    path("", include("accounts.api_urls")),
    path("", include("markets.api_urls")),
    path("", include("content.api_urls")),
    path("", include("accounts.partner_api_urls")),
    path("", include("content.label_api_urls")),
    path("", include("portal.publishing_api_urls")),
]
