"""The audit log."""

from django.urls import URLPattern, URLResolver, path

from portal.audit import views as audit_views

app_name = "audit"

urlpatterns: list[URLPattern | URLResolver] = [
    path("", audit_views.audit_log, name="log"),
]
