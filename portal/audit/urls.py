"""The audit log."""

from django.urls import URLPattern, URLResolver, path

from portal.audit import views as audit_views
from portal.audit.revert import views as revert_views

app_name = "audit"

urlpatterns: list[URLPattern | URLResolver] = [
    path("", audit_views.audit_log, name="log"),
    path("<int:entry_id>/revert/", revert_views.revert_entry, name="revert_entry"),
    path("batches/<uuid:batch>/revert/", revert_views.revert_batch, name="revert_batch"),
]
