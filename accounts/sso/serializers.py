"""REST API serializers for single sign-on group mappings."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from accounts.models import Role
from accounts.sso.models import SsoGroupMapping
from markets.models import Market
from portal.api.fields import StrictCharField, StrictFieldsMixin, StrictSlugRelatedField


class SsoGroupMappingSerializer(serializers.ModelSerializer[SsoGroupMapping]):
    """A provider group and the role it grants, in one market or (null) in all markets."""

    market = serializers.CharField(source="market.code", allow_null=True, read_only=True, default=None)

    class Meta:
        model = SsoGroupMapping
        fields = ["id", "group_name", "role", "market", "created_at"]
        read_only_fields = fields


class SsoGroupMappingCreateSerializer(StrictFieldsMixin, serializers.Serializer[Any]):
    """What a new mapping needs: the group's name as the provider sends it, a role, a market."""

    group_name = StrictCharField(max_length=255, help_text="Exactly as the provider sends it.")
    role = serializers.ChoiceField(choices=Role.choices)
    market = StrictSlugRelatedField(
        slug_field="code",
        queryset=Market.objects.all(),
        required=False,
        allow_null=True,
        default=None,
        help_text="A market code; null or absent means all markets.",
    )
