"""The schedule pages."""

from django.urls import URLPattern, URLResolver, path

from portal.schedule import views

app_name = "schedule"

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.schedule_overview, name="overview"),
    path("calendar/", views.calendar_feeds, name="calendar"),
    path("calendar/<int:pk>/revoke/", views.calendar_feed_revoke_view, name="calendar_revoke"),
    path("groups/<str:group_code>/", views.schedule_group, name="group"),
    path("<str:code>/", views.schedule_market, name="market"),
]
