from django.urls import path

from portal.notifications import views

app_name = "notifications"

urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("bell/", views.bell, name="bell"),
    path("read-all/", views.read_all, name="read_all"),
    path("<int:receipt_id>/open/", views.open_notification, name="open"),
    path("preferences/", views.preferences, name="preferences"),
    path("defaults/", views.defaults, name="defaults"),
    path("webhooks/", views.webhooks, name="webhooks"),
    path("webhooks/<int:endpoint_id>/", views.webhook_detail, name="webhook"),
    path("webhooks/<int:endpoint_id>/test/", views.webhook_test, name="webhook_test"),
    path("webhooks/<int:endpoint_id>/delete/", views.webhook_delete, name="webhook_delete"),
    path("deliveries/<int:delivery_id>/retry/", views.delivery_retry, name="delivery_retry"),
]
