"""REST API v1 routes for images and labels (included from portal/api/urls.py)."""

from django.urls import URLPattern, URLResolver, path

from content.labels.api import (
    GlobalBandsView,
    ImageViewSet,
    LabelDecisionViewSet,
    ModerationPolicyDetailView,
    ModerationPolicyListView,
    SectionAdmissionView,
    SectionBandsView,
    SectionDetailView,
    SectionListView,
    SectionMappingDetailView,
    SectionMappingListView,
)

urlpatterns: list[URLPattern | URLResolver] = [
    path("images/", ImageViewSet.as_view({"get": "list", "post": "upload"}), name="api-image-list"),
    path("images/register/", ImageViewSet.as_view({"post": "register"}), name="api-image-register"),
    path("images/<int:pk>/", ImageViewSet.as_view({"get": "retrieve"}), name="api-image-detail"),
    path("images/<int:pk>/retry/", ImageViewSet.as_view({"post": "retry"}), name="api-image-retry"),
    path("labels/decide/", LabelDecisionViewSet.as_view({"post": "decide"}), name="api-label-decide"),
    path("label-bands/", GlobalBandsView.as_view(), name="api-label-bands"),
    path("sections/", SectionListView.as_view(), name="api-section-list"),
    path("sections/<int:section_id>/", SectionDetailView.as_view(), name="api-section-detail"),
    path(
        "sections/<int:section_id>/mappings/", SectionMappingListView.as_view(), name="api-section-mappings"
    ),
    path(
        "sections/<int:section_id>/mappings/<int:mapping_id>/",
        SectionMappingDetailView.as_view(),
        name="api-section-mapping-detail",
    ),
    path("sections/<int:section_id>/admission", SectionAdmissionView.as_view(), name="api-section-admission"),
    path("sections/<int:section_id>/bands/", SectionBandsView.as_view(), name="api-section-bands"),
    path(
        "markets/<str:code>/moderation-policies/",
        ModerationPolicyListView.as_view(),
        name="api-moderation-policy-list",
    ),
    path(
        "markets/<str:code>/moderation-policies/<int:policy_id>/",
        ModerationPolicyDetailView.as_view(),
        name="api-moderation-policy-detail",
    ),
]
