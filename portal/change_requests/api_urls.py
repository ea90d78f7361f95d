"""REST API v1 routes for change requests (included from portal/api/urls.py)."""

from django.urls import URLPattern, URLResolver, path

from portal.change_requests.api import ChangeRequestViewSet, GroupPolicyView, MarketPolicyView

_detail_actions = ("submit", "approve", "reject", "withdraw", "refresh", "comments")

urlpatterns: list[URLPattern | URLResolver] = [
    path(
        "change-requests/",
        ChangeRequestViewSet.as_view({"get": "list", "post": "create"}),
        name="api-change-request-list",
    ),
    path(
        "change-requests/<int:pk>/",
        ChangeRequestViewSet.as_view({"get": "retrieve"}),
        name="api-change-request-detail",
    ),
    *[
        path(
            f"change-requests/<int:pk>/{name}/",
            ChangeRequestViewSet.as_view({"post": name}),
            name=f"api-change-request-{name}",
        )
        for name in _detail_actions
    ],
    path(
        "markets/<str:code>/approval-policy/", MarketPolicyView.as_view(), name="api-market-approval-policy"
    ),
    path("groups/<str:group>/approval-policy/", GroupPolicyView.as_view(), name="api-group-approval-policy"),
]
