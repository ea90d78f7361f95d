"""REST API v1 routes for markets, rules and resolve (included from portal/api/urls.py)."""

from django.urls import URLPattern, URLResolver, path

from markets.api import MarketViewSet, ResolveView, RuleViewSet

urlpatterns: list[URLPattern | URLResolver] = [
    path("markets/", MarketViewSet.as_view({"get": "list", "post": "create"}), name="api-market-list"),
    path(
        "markets/<str:code>/",
        MarketViewSet.as_view({"get": "retrieve", "patch": "partial_update"}),
        name="api-market-detail",
    ),
    path(
        "markets/<str:code>/deactivate/",
        MarketViewSet.as_view({"post": "deactivate"}),
        name="api-market-deactivate",
    ),
    path(
        "markets/<str:code>/activate/",
        MarketViewSet.as_view({"post": "activate"}),
        name="api-market-activate",
    ),
    path(
        "markets/<str:code>/rules/",
        RuleViewSet.as_view({"get": "list", "post": "create"}),
        name="api-rule-list",
    ),
    path(
        "markets/<str:code>/rules/<int:pk>/",
        RuleViewSet.as_view(
            {"get": "retrieve", "put": "update", "patch": "partial_update", "delete": "destroy"}
        ),
        name="api-rule-detail",
    ),
    path("markets/<str:code>/resolve", ResolveView.as_view(), name="api-market-resolve"),
]
