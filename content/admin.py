from django.contrib import admin

from content.models import ContentItem, GroupPosition, Position, Tag
from portal.read_only_admin import ReadOnlyModelAdmin


@admin.register(ContentItem)
class ContentItemAdmin(ReadOnlyModelAdmin):
    list_display = [
        "upstream_id",
        "title",
        "content_type",
        "source",
        "language",
        "published_at",
        "rights_deny",
        "rights_allow",
    ]
    list_filter = ["content_type"]
    search_fields = ["title", "upstream_id"]


@admin.register(Tag)
class TagAdmin(ReadOnlyModelAdmin):
    list_display = ["slug", "label"]
    search_fields = ["slug", "label"]


@admin.register(GroupPosition)
class GroupPositionAdmin(ReadOnlyModelAdmin):
    list_display = ["group", "item", "state", "boost", "starts_at", "ends_at", "version"]
    list_select_related = ["group", "item"]
    raw_id_fields = ["item"]


@admin.register(Position)
class PositionAdmin(ReadOnlyModelAdmin):
    list_display = ["market", "item", "state", "boost", "slot", "starts_at", "ends_at", "version"]
    list_select_related = ["market", "item"]
    raw_id_fields = ["item"]
