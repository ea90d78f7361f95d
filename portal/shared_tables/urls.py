"""The publishing page: the outbox backlog and its dead letters (admins only)."""

from django.urls import URLPattern, URLResolver, path

from portal.shared_tables import views

app_name = "publishing"

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.outbox, name="outbox"),
    path("<int:entry_id>/retry/", views.retry, name="retry"),
    path("retry-all/", views.retry_all, name="retry_all"),
]
