from django.contrib import admin

from portal.audit.models import AuditEntry
from portal.read_only_admin import ReadOnlyModelAdmin
from portal.shared_tables.models import OutboxEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyModelAdmin):
    list_display = ["created_at", "actor_name", "action", "market_code", "object_type", "object_id"]
    list_filter = ["action", "object_type"]


@admin.register(OutboxEntry)
class OutboxEntryAdmin(ReadOnlyModelAdmin):
    list_display = ["id", "kind", "key", "version", "status", "attempts", "created_at"]
    list_filter = ["status", "kind"]
