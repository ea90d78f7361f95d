"""Change request pages."""

from django.urls import URLPattern, URLResolver, path

from portal.change_requests import views

app_name = "change_requests"

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.request_index, name="list"),
    path("<int:pk>/", views.request_detail, name="detail"),
    path("<int:pk>/edit/", views.request_edit, name="edit"),
    path("<int:pk>/submit/", views.request_submit_view, name="submit"),
    path("<int:pk>/approve/", views.request_approve_view, name="approve"),
    path("<int:pk>/reject/", views.request_reject_view, name="reject"),
    path("<int:pk>/withdraw/", views.request_withdraw_view, name="withdraw"),
    path("<int:pk>/refresh/", views.request_refresh_view, name="refresh"),
    path("<int:pk>/comments/", views.request_comment_view, name="comment"),
    path("policy/groups/<str:code>/", views.group_policy, name="group_policy"),
    path("policy/<str:code>/", views.policy, name="policy"),
]
