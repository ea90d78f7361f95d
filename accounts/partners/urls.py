"""Partners area pages (admins only), and the stand-in endpoint protected by partner keys."""

from django.urls import URLPattern, URLResolver, include, path

from accounts.partners import views

app_name = "partners"

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.partner_list, name="list"),
    path("new/", views.partner_create, name="create"),
    path("<int:pk>/", views.partner_detail, name="detail"),
    path("<int:pk>/edit/", views.partner_edit, name="edit"),
    path("plans/", views.plan_list, name="plans"),
    path("plans/new/", views.plan_create, name="plan-create"),
    path("plans/<int:pk>/", views.plan_edit, name="plan-edit"),
    path("plans/<int:pk>/delete/", views.plan_delete, name="plan-delete"),
    path("plans/<int:pk>/retry/", views.plan_retry, name="plan-retry"),
    path("keys/", views.key_list, name="keys"),
    path("keys/issue/", views.key_issue, name="key-issue"),
    path("keys/<int:pk>/", views.key_detail, name="key-detail"),
    path("keys/<int:pk>/rotate/", views.key_rotate, name="key-rotate"),
    path("keys/<int:pk>/top-up/", views.key_top_up, name="key-top-up"),
    path("keys/<int:pk>/retry/", views.key_retry, name="key-retry"),
    # Before key-status, whose <slug:action> would take "traffic".
    path("", include("accounts.partners.traffic.urls")),
    path("keys/<int:pk>/<slug:action>/", views.key_status, name="key-status"),
    path("top-ups/<int:pk>/retry/", views.top_up_retry, name="top-up-retry"),
    path("usage/refresh/", views.usage_refresh, name="usage-refresh"),
    path("alerts/", views.alerts, name="alerts"),
    path("probe/", views.probe, name="probe"),
]
