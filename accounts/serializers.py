"""REST API serializers for automation tokens. The secret appears in one response only."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone
from rest_framework import serializers

from accounts.models import ApiToken
from portal.api.fields import AwareDateTimeField, StrictCharField, StrictFieldsMixin, StrictIntegerField

MAX_TOKEN_DAYS = 3650


class ApiTokenSerializer(serializers.ModelSerializer[ApiToken]):
    """A token as listed: never its secret, only the prefix that tells tokens apart."""

    user = serializers.CharField(source="user.username", read_only=True)
    # A plain string, not an enum: other areas' "status" enums would collide with it in the schema.
    status = serializers.CharField(read_only=True, help_text="active, expired or revoked.")

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "user",
            "name",
            "prefix",
            "created_at",
            "expires_at",
            "last_used_at",
            "revoked_at",
            "status",
        ]
        read_only_fields = fields


class IssuedApiTokenSerializer(ApiTokenSerializer):
    """A token just created, with its secret: store it now, it is never shown again."""

    secret = serializers.CharField(read_only=True, help_text="Send as `Authorization: Token <secret>`.")

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class ApiTokenCreateSerializer(StrictFieldsMixin, serializers.Serializer[Any]):
    """What a new token needs: a name and at most one way to say when it expires."""

    name = StrictCharField(max_length=120, help_text="What the token is for, e.g. 'ingestion pipeline'.")
    days = StrictIntegerField(
        min_value=1, max_value=MAX_TOKEN_DAYS, required=False, help_text="Expire after this many days."
    )
    expires_at = AwareDateTimeField(required=False, help_text="Expire at this time.")
    never_expires = serializers.BooleanField(required=False, default=False)
    user = StrictCharField(
        max_length=150, required=False, help_text="Admins only: the username the token is for (default: you)."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        given = [k for k in ("days", "expires_at") if k in attrs] + (
            ["never_expires"] * attrs["never_expires"]
        )
        if len(given) > 1:
            raise serializers.ValidationError(
                {given[-1]: ["Choose one of days, expires_at or never_expires."]}
            )
        return attrs

    def expiry(self) -> datetime | None:
        """Return the expiry asked for (None: the service's default, or never when asked)."""
        data = self.validated_data
        if "days" in data:
            return timezone.now() + timedelta(days=data["days"])
        expires_at: datetime | None = data.get("expires_at")
        return expires_at
