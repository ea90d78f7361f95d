from django.contrib import admin

from markets.models import Market, Rule


@admin.register(Market)
class MarketAdmin(admin.ModelAdmin[Market]):
    list_display = ["code", "name", "timezone", "default_visibility", "active", "version"]
    search_fields = ["code", "name"]


@admin.register(Rule)
class RuleAdmin(admin.ModelAdmin[Rule]):
    list_display = ["id", "market", "action", "boost", "starts_at", "ends_at"]
    list_select_related = ["market"]
