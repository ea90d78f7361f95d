"""REST API v1 routes for market groups, members and group rules (from portal/api/urls.py)."""

from django.urls import URLPattern, URLResolver, path

from markets.groups.api import GroupMembersView, GroupRuleViewSet, GroupViewSet

urlpatterns: list[URLPattern | URLResolver] = [
    path("groups/", GroupViewSet.as_view({"get": "list", "post": "create"}), name="api-group-list"),
    path(
        "groups/<str:group>/",
        GroupViewSet.as_view({"get": "retrieve", "patch": "partial_update"}),
        name="api-group-detail",
    ),
    path("groups/<str:group>/members/", GroupMembersView.as_view(), name="api-group-members"),
    path(
        "groups/<str:group>/rules/",
        GroupRuleViewSet.as_view({"get": "list", "post": "create"}),
        name="api-group-rule-list",
    ),
    path(
        "groups/<str:group>/rules/<int:pk>/",
        GroupRuleViewSet.as_view({"get": "retrieve", "patch": "partial_update", "delete": "destroy"}),
        name="api-group-rule-detail",
    ),
]
