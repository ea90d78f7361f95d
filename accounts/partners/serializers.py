"""REST API serializers for partners, usage plans and partner API keys.

A key's secret appears in exactly two kinds of answers: issuing a key and rotating one (and a
re-issue after a failed first sync). Nothing else ever carries it.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.partners.gateway.base import MethodThrottle
from accounts.partners.models import (
    KeyStatus,
    KeyUsage,
    Partner,
    PartnerApiKey,
    QuotaPeriod,
    QuotaTopUp,
    UsagePlan,
)
from accounts.partners.selectors import UsageSummary
from portal.api.fields import AwareDateTimeField, StrictCharField, StrictIntegerField
from portal.bounds import NAME_MAX, NOTE_MAX


class SyncSerializer(serializers.Serializer[Any]):
    """Whether the gateway holds the object as Meridian does."""

    state = serializers.CharField(source="sync_state", help_text="synced, pending or failed.")
    error = serializers.CharField(source="sync_error", help_text="The last failure, if any.")
    gateway_id = serializers.CharField(help_text="The object's id on API Gateway (empty in local mode).")
    synced_at = serializers.DateTimeField(allow_null=True)


class PartnerSerializer(serializers.ModelSerializer[Partner]):
    # May be "": an EmailField would promise a valid address (format: email) in every answer.
    contact_email = serializers.CharField(read_only=True)

    class Meta:
        model = Partner
        fields = [
            "id",
            "name",
            "contact_name",
            "contact_email",
            "notes",
            "active",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class PartnerWriteSerializer(serializers.Serializer[Any]):
    """A partner's fields; on PATCH send only those that change."""

    name = StrictCharField(max_length=NAME_MAX)
    contact_name = StrictCharField(max_length=NAME_MAX, required=False, allow_blank=True)
    contact_email = serializers.EmailField(max_length=254, required=False, allow_blank=True)
    notes = StrictCharField(max_length=NOTE_MAX, required=False, allow_blank=True)
    active = serializers.BooleanField(required=False)


class MethodThrottleSerializer(serializers.Serializer[Any]):
    stage = StrictCharField(max_length=200, help_text="apiId:stage, one of the plan's stages.")
    path = StrictCharField(max_length=200, help_text="API Gateway's /resource/METHOD, e.g. /feed/GET.")
    rate = serializers.FloatField(help_text="Requests per second.")
    burst = StrictIntegerField()


class QuotaSerializer(serializers.Serializer[Any]):
    limit = serializers.IntegerField()
    period = serializers.ChoiceField(choices=QuotaPeriod.choices)
    offset = serializers.IntegerField(
        help_text="The day the period starts: DAY 0, WEEK 0 (Sunday)-6, MONTH 0-27."
    )


class UsagePlanSerializer(serializers.ModelSerializer[UsagePlan]):
    rate_limit = serializers.DecimalField(max_digits=10, decimal_places=3, coerce_to_string=False)
    quota = serializers.SerializerMethodField()
    method_throttles = serializers.SerializerMethodField()
    keys_count = serializers.IntegerField(read_only=True, help_text="Active and suspended keys on the plan.")
    sync = SyncSerializer(source="*")

    class Meta:
        model = UsagePlan
        fields = [
            "id",
            "name",
            "description",
            "rate_limit",
            "burst_limit",
            "quota",
            "api_stages",
            "method_throttles",
            "keys_count",
            "sync",
            "created_at",
            "updated_at",
            "deleted_at",
        ]
        read_only_fields = fields

    @extend_schema_field(QuotaSerializer(allow_null=True))
    def get_quota(self, plan: UsagePlan) -> dict[str, Any] | None:
        if not plan.has_quota:
            return None
        return {"limit": plan.quota_limit, "period": plan.quota_period, "offset": plan.quota_offset}

    @extend_schema_field(MethodThrottleSerializer(many=True))
    def get_method_throttles(self, plan: UsagePlan) -> list[dict[str, Any]]:
        return [
            {"stage": stage, "path": path, "rate": float(t["rate"]), "burst": int(t["burst"])}
            for stage, methods in sorted((plan.method_throttles or {}).items())
            for path, t in sorted(methods.items())
        ]


class UsagePlanWriteSerializer(serializers.Serializer[Any]):
    """A plan's fields; on PATCH send only those that change. No quota: quota_limit null."""

    name = StrictCharField(max_length=255)
    description = StrictCharField(max_length=NOTE_MAX, required=False, allow_blank=True)
    rate_limit = serializers.DecimalField(max_digits=10, decimal_places=3, help_text="Requests per second.")
    burst_limit = StrictIntegerField()
    quota_limit = StrictIntegerField(required=False, allow_null=True)
    quota_period = serializers.ChoiceField(choices=[("", "none"), *QuotaPeriod.choices], required=False)
    quota_offset = StrictIntegerField(required=False)
    api_stages = serializers.ListField(
        child=StrictCharField(max_length=200), max_length=10, help_text="apiId:stage entries."
    )
    # ListSerializer takes max_length (DRF 3.14+); the stubs do not know it yet.
    method_throttles = MethodThrottleSerializer(many=True, max_length=100, required=False)  # type: ignore[call-arg]

    def throttles(self) -> list[MethodThrottle] | None:
        raw = self.validated_data.get("method_throttles")
        if raw is None:
            return None
        return [
            MethodThrottle(stage=t["stage"], path=t["path"], rate=t["rate"], burst=t["burst"]) for t in raw
        ]


class UsageSummarySerializer(serializers.Serializer[Any]):
    today = serializers.IntegerField(help_text="Requests today (UTC).")
    used = serializers.IntegerField(help_text="Requests in the current quota period.")
    quota = serializers.IntegerField(allow_null=True, help_text="The period's quota, top-ups included.")
    remaining = serializers.IntegerField(allow_null=True)
    percent = serializers.FloatField(allow_null=True)
    as_of = serializers.DateTimeField(allow_null=True, help_text="When usage was last synced.")


class NamedRefSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    name = serializers.CharField()


class PartnerKeySerializer(serializers.ModelSerializer[PartnerApiKey]):
    """A key as listed: its prefix and last four characters, never the secret."""

    partner = NamedRefSerializer()
    plan = NamedRefSerializer()
    display = serializers.CharField(help_text="prefix…last4, to recognise the key.")
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    replaces = serializers.PrimaryKeyRelatedField(  # type: ignore[var-annotated]
        read_only=True,
        allow_null=True,
        help_text="The id of the key this one replaced by rotation; null for a key issued afresh.",
    )
    sync = SyncSerializer(source="*")
    usage = serializers.SerializerMethodField()

    class Meta:
        model = PartnerApiKey
        fields = [
            "id",
            "partner",
            "plan",
            "name",
            "prefix",
            "last_four",
            "display",
            "status",
            "expires_at",
            "created_at",
            "created_by",
            "last_used_at",
            "replaces",
            "carry_over_pending",
            "sync",
            "usage",
        ]
        read_only_fields = fields

    @extend_schema_field(UsageSummarySerializer(allow_null=True))
    def get_usage(self, key: PartnerApiKey) -> dict[str, Any] | None:
        # Filled by the view for the whole page at once (two queries), never per key.
        summaries: dict[int, UsageSummary] = self.context.get("usage", {})
        summary = summaries.get(key.pk)
        if summary is None:
            return None
        return {
            "today": summary.today,
            "used": summary.used,
            "quota": summary.quota,
            "remaining": summary.remaining,
            "percent": None if summary.percent is None else round(summary.percent, 1),
            "as_of": summary.as_of,
        }


class IssuedKeySerializer(serializers.Serializer[Any]):
    """A key just issued, with its secret: hand it to the partner now, it is never shown again."""

    key = PartnerKeySerializer()
    secret = serializers.CharField(help_text="Send as the x-api-key header. Shown once.")


class KeyIssueSerializer(serializers.Serializer[Any]):
    partner = serializers.PrimaryKeyRelatedField(queryset=Partner.objects.all())
    plan = serializers.PrimaryKeyRelatedField(queryset=UsagePlan.objects.all())
    name = StrictCharField(max_length=NAME_MAX, help_text="The app that will use the key.")
    expires_at = AwareDateTimeField(required=False, allow_null=True)


class KeyRotateSerializer(serializers.Serializer[Any]):
    grace_hours = StrictIntegerField(
        min_value=0, max_value=720, help_text="How long the old key keeps working (0: stops now)."
    )


class TopUpSerializer(serializers.ModelSerializer[QuotaTopUp]):
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    sync = SyncSerializer(source="*")

    class Meta:
        model = QuotaTopUp
        fields = ["id", "key", "amount", "reason", "period_start", "created_at", "created_by", "sync"]
        read_only_fields = fields


class TopUpCreateSerializer(serializers.Serializer[Any]):
    amount = StrictIntegerField(help_text="Extra requests for the current quota period.")
    reason = StrictCharField(max_length=300)


class KeyUsageSerializer(serializers.ModelSerializer[KeyUsage]):
    class Meta:
        model = KeyUsage
        fields = ["day", "used", "remaining"]
        read_only_fields = fields


class QuotaAlertSerializer(serializers.Serializer[Any]):
    level = serializers.IntegerField(help_text="50, 80 or 100 (% of the quota).")
    key = PartnerKeySerializer()


class AlertsSerializer(serializers.Serializer[Any]):
    quota = QuotaAlertSerializer(many=True)
    expiring = PartnerKeySerializer(many=True, help_text="Usable keys that expire within 7 days.")


class UsageSyncResultSerializer(serializers.Serializer[Any]):
    rows = serializers.IntegerField(help_text="Key-days written.")


class StatusFilterSerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(choices=KeyStatus.choices, required=False)
