"""REST API v1 routes for images and labels (included from portal/api/urls.py)."""

from django.urls import URLPattern, URLResolver, path

from content.label_api import ImageViewSet, LabelDecisionViewSet

urlpatterns: list[URLPattern | URLResolver] = [
    path("images/", ImageViewSet.as_view({"get": "list", "post": "upload"}), name="api-image-list"),
    path("images/register/", ImageViewSet.as_view({"post": "register"}), name="api-image-register"),
    path("images/<int:pk>/", ImageViewSet.as_view({"get": "retrieve"}), name="api-image-detail"),
    path("images/<int:pk>/retry/", ImageViewSet.as_view({"post": "retry"}), name="api-image-retry"),
    path("labels/decide/", LabelDecisionViewSet.as_view({"post": "decide"}), name="api-label-decide"),
]
