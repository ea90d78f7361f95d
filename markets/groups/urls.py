"""Group pages: list, new group, a group's page, settings, members and rules."""

from django.urls import URLPattern, URLResolver, path

from markets.groups import views

app_name = "groups"

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.group_index, name="list"),
    path("new/", views.group_new, name="create"),
    path("<str:code>/", views.group_detail, name="detail"),
    path("<str:code>/settings/", views.group_settings, name="settings"),
    path("<str:code>/members/", views.group_members, name="members"),
    path("<str:code>/rules/new/", views.group_rule_new, name="rule_create"),
    path("<str:code>/rules/<int:rule_id>/", views.group_rule_edit, name="rule_edit"),
    path("<str:code>/rules/<int:rule_id>/delete/", views.group_rule_remove, name="rule_delete"),
    path("<str:code>/positions/<int:item_id>/reset/", views.group_position_reset, name="position_reset"),
]
