"""REST API serializers for market groups, their members and rules (parse and render only)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from markets.models import GROUP_PRIORITY_MAX, GroupRule, Market, MarketGroup
from markets.serializers import RuleWriteSerializer
from portal.api.fields import StrictCharField, StrictFieldsMixin, StrictIntegerField
from portal.bounds import NOTE_MAX

MAX_MEMBERS_PER_REQUEST = 500


class GroupSerializer(serializers.ModelSerializer[MarketGroup]):
    """A group as the API shows it; `version` is also sent as the ETag."""

    members = serializers.SerializerMethodField()

    class Meta:
        model = MarketGroup
        fields = ["code", "name", "description", "priority", "active", "members", "version", "updated_at"]
        read_only_fields = fields

    def get_members(self, group: MarketGroup) -> list[str]:
        return sorted(link.market.code for link in group.member_links.all())


def _markets(codes: list[str]) -> list[Market]:
    wanted = list(dict.fromkeys(code.strip().upper() for code in codes))
    found = {m.code: m for m in Market.objects.filter(code__in=wanted)}
    unknown = [code for code in wanted if code not in found]
    if unknown:
        raise serializers.ValidationError(f"Unknown market(s): {', '.join(unknown)}.")
    return [found[code] for code in wanted]


class GroupCreateSerializer(StrictFieldsMixin, serializers.Serializer[Any]):
    """A new group: code, name, priority and its first members."""

    code = StrictCharField(max_length=32)
    name = StrictCharField(max_length=120)
    description = StrictCharField(allow_blank=True, max_length=NOTE_MAX, default="")
    priority = StrictIntegerField(min_value=0, max_value=GROUP_PRIORITY_MAX, default=100)
    members = serializers.ListField(
        child=StrictCharField(max_length=32), max_length=MAX_MEMBERS_PER_REQUEST, default=list
    )

    def validate_members(self, codes: list[str]) -> list[Market]:
        return _markets(codes)


class GroupUpdateSerializer(StrictFieldsMixin, serializers.Serializer[Any]):
    """What a PATCH may change; `active: false` retires the group."""

    name = StrictCharField(max_length=120, required=False)
    description = StrictCharField(allow_blank=True, max_length=NOTE_MAX, required=False)
    priority = StrictIntegerField(min_value=0, max_value=GROUP_PRIORITY_MAX, required=False)
    active = serializers.BooleanField(required=False)


class GroupMembersSerializer(StrictFieldsMixin, serializers.Serializer[Any]):
    """Markets to add to and remove from a group."""

    add = serializers.ListField(
        child=StrictCharField(max_length=32), max_length=MAX_MEMBERS_PER_REQUEST, default=list
    )
    remove = serializers.ListField(
        child=StrictCharField(max_length=32), max_length=MAX_MEMBERS_PER_REQUEST, default=list
    )

    def validate_add(self, codes: list[str]) -> list[Market]:
        return _markets(codes)

    def validate_remove(self, codes: list[str]) -> list[Market]:
        return _markets(codes)


class GroupMembersResultSerializer(serializers.Serializer[Any]):
    joined = serializers.ListField(child=serializers.CharField())
    left = serializers.ListField(child=serializers.CharField())
    members = serializers.ListField(child=serializers.CharField())


class GroupRuleSerializer(serializers.ModelSerializer[GroupRule]):
    """A group rule as the API shows it; `version` is also sent as the ETag."""

    group = serializers.CharField(source="group.code", read_only=True)
    author = serializers.CharField(source="author.username", read_only=True, allow_null=True)

    class Meta:
        model = GroupRule
        fields = [
            "id",
            "group",
            "action",
            "boost",
            "binding",
            "match_tags",
            "match_content_types",
            "match_sources",
            "starts_at",
            "ends_at",
            "note",
            "author",
            "version",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class GroupRuleWriteSerializer(RuleWriteSerializer):
    """A group rule as POST and PATCH send it: a market rule's fields, `binding` included (a binding
    hide rule beats every position in every member market)."""
