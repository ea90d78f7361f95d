"""REST API v1 routes for reverts (included from portal/api/urls.py)."""

from django.urls import URLPattern, URLResolver, path

from portal.audit.revert.api import BatchRevertView, EntryRevertView

urlpatterns: list[URLPattern | URLResolver] = [
    path("audit/entries/<int:entry_id>/revert/", EntryRevertView.as_view(), name="api-audit-entry-revert"),
    path("audit/batches/<uuid:batch>/revert/", BatchRevertView.as_view(), name="api-audit-batch-revert"),
]
