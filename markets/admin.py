from django.contrib import admin

from markets.models import GroupRule, Market, MarketGroup, Rule
from portal.read_only_admin import ReadOnlyModelAdmin


@admin.register(Market)
class MarketAdmin(ReadOnlyModelAdmin):
    list_display = ["code", "name", "timezone", "default_visibility", "active", "version"]
    search_fields = ["code", "name"]


@admin.register(Rule)
class RuleAdmin(ReadOnlyModelAdmin):
    list_display = ["id", "market", "action", "binding", "boost", "starts_at", "ends_at"]
    list_filter = ["action", "binding"]
    list_select_related = ["market"]


@admin.register(MarketGroup)
class MarketGroupAdmin(ReadOnlyModelAdmin):
    list_display = ["code", "name", "priority", "active", "version"]
    search_fields = ["code", "name"]


@admin.register(GroupRule)
class GroupRuleAdmin(ReadOnlyModelAdmin):
    list_display = ["id", "group", "action", "binding", "boost", "starts_at", "ends_at"]
    list_select_related = ["group"]
