from django.contrib import admin

from content.models import ContentItem, Position, Tag


@admin.register(ContentItem)
class ContentItemAdmin(admin.ModelAdmin[ContentItem]):
    list_display = ["upstream_id", "title", "content_type", "source", "language", "published_at"]
    list_filter = ["content_type"]
    search_fields = ["title", "upstream_id"]


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin[Tag]):
    list_display = ["slug", "label"]
    search_fields = ["slug", "label"]


@admin.register(Position)
class PositionAdmin(admin.ModelAdmin[Position]):
    list_display = ["market", "item", "state", "boost", "slot", "starts_at", "ends_at", "version"]
    list_select_related = ["market", "item"]
    raw_id_fields = ["item"]
