"""REST API v1 routes for partners, usage plans and partner API keys (included from portal/api/urls.py)."""

from django.urls import URLPattern, URLResolver, include, path

from accounts.partners import api

urlpatterns: list[URLPattern | URLResolver] = [
    path("partners/", api.PartnerListView.as_view(), name="api-partner-list"),
    path("partners/<int:pk>/", api.PartnerDetailView.as_view(), name="api-partner-detail"),
    path("usage-plans/", api.UsagePlanListView.as_view(), name="api-usage-plan-list"),
    path("usage-plans/<int:pk>/", api.UsagePlanDetailView.as_view(), name="api-usage-plan-detail"),
    path("usage-plans/<int:pk>/retry-sync/", api.UsagePlanRetryView.as_view(), name="api-usage-plan-retry"),
    path("partner-keys/", api.PartnerKeyListView.as_view(), name="api-partner-key-list"),
    path("partner-keys/<int:pk>/", api.PartnerKeyDetailView.as_view(), name="api-partner-key-detail"),
    path(
        "partner-keys/<int:pk>/suspend/", api.PartnerKeySuspendView.as_view(), name="api-partner-key-suspend"
    ),
    path("partner-keys/<int:pk>/resume/", api.PartnerKeyResumeView.as_view(), name="api-partner-key-resume"),
    path("partner-keys/<int:pk>/revoke/", api.PartnerKeyRevokeView.as_view(), name="api-partner-key-revoke"),
    path("partner-keys/<int:pk>/rotate/", api.PartnerKeyRotateView.as_view(), name="api-partner-key-rotate"),
    path(
        "partner-keys/<int:pk>/retry-sync/", api.PartnerKeyRetryView.as_view(), name="api-partner-key-retry"
    ),
    path("partner-keys/<int:pk>/top-ups/", api.PartnerKeyTopUpView.as_view(), name="api-partner-key-top-ups"),
    path("partner-keys/<int:pk>/usage/", api.PartnerKeyUsageView.as_view(), name="api-partner-key-usage"),
    path("partner-alerts/", api.PartnerAlertsView.as_view(), name="api-partner-alerts"),
    path("partner-usage/sync/", api.UsageSyncView.as_view(), name="api-partner-usage-sync"),
    path("", include("accounts.partners.traffic.api_urls")),
]
