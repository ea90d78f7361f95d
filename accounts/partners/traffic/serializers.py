"""Traffic rollups and plan recommendations for the REST API, and the list filters' parsing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.utils import timezone
from rest_framework import serializers

from accounts.partners.traffic.models import TrafficHour, TrafficMinute
from portal.bounds import OUT_OF_RANGE, datetime_range_error

FIGURES = [
    "requests",
    "burst",
    "steady",
    "ok",
    "client_errors",
    "server_errors",
    "throttled",
    "quota_refused",
    "latency_p50",
    "latency_p99",
]


class TrafficMinuteSerializer(serializers.ModelSerializer[TrafficMinute]):
    key = serializers.IntegerField(source="key_id", read_only=True)

    class Meta:
        model = TrafficMinute
        fields = ["key", "stage", "method", "minute", *FIGURES]
        read_only_fields = fields


class TrafficHourSerializer(serializers.ModelSerializer[TrafficHour]):
    key = serializers.IntegerField(source="key_id", read_only=True)

    class Meta:
        model = TrafficHour
        fields = ["key", "stage", "method", "hour", *FIGURES]
        read_only_fields = fields


class FilterDateTimeField(serializers.DateTimeField):
    """A query-string time: ISO 8601, UTC when it has no offset, inside the supported range."""

    default_error_messages = {"overflow": OUT_OF_RANGE}

    def enforce_timezone(self, value: datetime) -> datetime:
        if datetime_range_error(value):
            self.fail("overflow")
        if timezone.is_naive(value):
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class TrafficFilterSerializer(serializers.Serializer[dict[str, Any]]):
    """?key=&method=&since=&until= (ISO 8601, UTC when no offset)."""

    key = serializers.IntegerField(required=False, min_value=1, max_value=2**31 - 1)
    method = serializers.CharField(required=False, max_length=255)
    since = FilterDateTimeField(required=False)
    until = FilterDateTimeField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("since") and attrs.get("until") and attrs["since"] >= attrs["until"]:
            raise serializers.ValidationError({"until": "Must be after since."})
        return attrs


class RecommendationFilterSerializer(serializers.Serializer[dict[str, Any]]):
    """?key=&plan= (the keys on one plan: its Fit)."""

    key = serializers.IntegerField(required=False, min_value=1, max_value=2**31 - 1)
    plan = serializers.IntegerField(required=False, min_value=1, max_value=2**31 - 1)


class RecommendationSerializer(serializers.Serializer[Any]):
    key = serializers.IntegerField(source="key_id")
    plan = serializers.IntegerField(source="plan_id")
    days = serializers.IntegerField(help_text="The window of the burst, 429s, requests and quota.")
    minute_days = serializers.IntegerField(help_text="The window of the minute figures (their retention).")
    minutes = serializers.IntegerField(help_text="Active minutes in the last `minute_days` days.")
    minutes_over_rate = serializers.IntegerField()
    minutes_over_burst = serializers.IntegerField()
    share_over_rate = serializers.FloatField()
    share_over_burst = serializers.FloatField()
    hours = serializers.IntegerField(help_text="Active hours in the last `days` days.")
    throttled = serializers.IntegerField()
    quota_refused = serializers.IntegerField()
    requests = serializers.IntegerField()
    p95_steady = serializers.IntegerField()
    peak_burst = serializers.IntegerField()
    rate = serializers.IntegerField()
    burst = serializers.IntegerField()
    quota_limit = serializers.IntegerField(allow_null=True)
    quota_period = serializers.CharField()
    steady_source = serializers.CharField(help_text='"minutes", "hours" (no minutes kept) or "" (none).')
    evidence = serializers.CharField()
