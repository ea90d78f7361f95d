"""Label review UI routes (namespace `labels`)."""

from django.urls import URLPattern, URLResolver, path

from content.labels import views

app_name = "labels"

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.queue, name="queue"),
    path("bulk/", views.bulk, name="bulk"),
    path("images/<int:image_id>/", views.image_detail, name="image"),
    path("images/<int:image_id>/approve-at-least/", views.approve_at_least, name="approve_at_least"),
    path("images/<int:image_id>/retry/", views.retry, name="retry"),
    path("images/<int:image_id>/<str:kind>.jpg", views.image_file, name="file"),
    path("labels/<int:label_id>/<str:decision>/", views.decide, name="decide"),
    path("upload/", views.upload, name="upload"),
    path("jobs/", views.jobs, name="jobs"),
    path("sections/", views.sections, name="sections"),
    path("sections/bands/", views.bands, name="bands"),
    path("sections/<int:section_id>/", views.section_detail, name="section"),
    path("sections/<int:section_id>/bands/", views.bands, name="section_bands"),
    path("sections/<int:section_id>/admission/", views.admission, name="admission"),
    path("mappings/<int:mapping_id>/delete/", views.mapping_delete, name="mapping_delete"),
    path("moderation/", views.moderation, name="moderation"),
    path("moderation/<str:code>/", views.moderation_market, name="moderation_market"),
    path("policies/<int:policy_id>/delete/", views.policy_delete, name="policy_delete"),
]
