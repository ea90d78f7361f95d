"""REST API v1 routes for the publishing pipeline (included from portal/api/urls.py)."""

from django.urls import URLPattern, URLResolver, path

from portal.shared_tables.api import (
    DeadLetterListView,
    DeadLetterRetryOneView,
    DeadLetterRetryView,
    PublishStatusView,
)

urlpatterns: list[URLPattern | URLResolver] = [
    path("publishing/status/", PublishStatusView.as_view(), name="api-publishing-status"),
    path("publishing/dead-letters/", DeadLetterListView.as_view(), name="api-dead-letter-list"),
    path("publishing/dead-letters/retry/", DeadLetterRetryView.as_view(), name="api-dead-letter-retry"),
    path(
        "publishing/dead-letters/<int:pk>/retry/",
        DeadLetterRetryOneView.as_view(),
        name="api-dead-letter-retry-one",
    ),
]
