"""REST API v1 routes for notifications (included from portal/api/urls.py)."""

from django.urls import URLPattern, URLResolver, path

from portal.notifications.api import (
    NotificationListView,
    NotificationReadAllView,
    NotificationReadView,
    PreferencesView,
    RoleDefaultsView,
)

urlpatterns: list[URLPattern | URLResolver] = [
    path("notifications/", NotificationListView.as_view(), name="api-notification-list"),
    path("notifications/read/", NotificationReadAllView.as_view(), name="api-notification-read-all"),
    path("notifications/<int:pk>/read/", NotificationReadView.as_view(), name="api-notification-read"),
    path("notifications/preferences/", PreferencesView.as_view(), name="api-notification-preferences"),
    path("notifications/defaults/<str:role>/", RoleDefaultsView.as_view(), name="api-notification-defaults"),
]
