"""REST API v1 routes of partner traffic (included from accounts/partners/api_urls.py)."""

from django.urls import URLPattern, URLResolver, path

from accounts.partners.traffic import api

urlpatterns: list[URLPattern | URLResolver] = [
    path("partner-traffic/minutes/", api.TrafficMinuteListView.as_view(), name="api-partner-traffic-minutes"),
    path("partner-traffic/hours/", api.TrafficHourListView.as_view(), name="api-partner-traffic-hours"),
    path(
        "partner-traffic/recommendations/",
        api.RecommendationListView.as_view(),
        name="api-partner-traffic-recommendations",
    ),
]
