"""Traffic pages of partner keys and plans (included from accounts/partners/urls.py, in its namespace)."""

from django.urls import URLPattern, URLResolver, path

from accounts.partners.traffic import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("keys/<int:pk>/traffic/", views.key_traffic, name="key-traffic"),
    path("keys/<int:pk>/traffic.json", views.key_traffic_data, name="key-traffic-data"),
    path("keys/<int:pk>/traffic.csv", views.key_traffic_csv, name="key-traffic-csv"),
    path("keys/<int:pk>/traffic/apply/", views.key_traffic_apply, name="key-traffic-apply"),
    path("plans/<int:pk>/fit/", views.plan_fit, name="plan-fit"),
    path("plans/<int:pk>/fit/apply/", views.plan_fit_apply, name="plan-fit-apply"),
]
