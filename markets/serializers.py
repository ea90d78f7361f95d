"""REST API serializers for markets, rules and the resolver's answer.

Serializers only parse and render: every write goes through `markets.services`, which validates
the values against the model (time zones, languages, tags, windows) and raises field errors.
The strict fields here exist so that wrong JSON types are refused instead of coerced.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from django.utils import timezone
from rest_framework import serializers

from markets.models import Market, Rule, RuleAction, Visibility


class StrictCharField(serializers.CharField):
    """A string field that refuses numbers and booleans instead of turning them into text."""

    default_error_messages = {"invalid": "Must be a string."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 datetime that must carry its UTC offset; stored and returned in UTC.

    A naive time is refused rather than read as UTC: an editor in Sydney who writes 06:00 means
    06:00 in Sydney, and guessing would shift a campaign window by hours.
    """

    default_error_messages = {
        "naive": "Give a time zone with the time, e.g. 2026-03-01T06:00:00+11:00 or 2026-02-28T19:00:00Z."
    }

    def enforce_timezone(self, value: datetime) -> datetime:
        if timezone.is_naive(value):
            self.fail("naive")
        try:
            return value.astimezone(UTC)
        except OverflowError:
            self.fail("overflow")
            raise  # unreachable: fail() raises; keeps type checkers content


class StrictFieldsMixin:
    """Refuse keys the serializer does not accept, so a typo ("titel") is not silently ignored."""

    fields: Any

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            unknown = sorted(set(data) - writable)
            if unknown:
                raise serializers.ValidationError({name: ["Unknown or read-only field."] for name in unknown})
        return super().to_internal_value(data)  # type: ignore[misc]


# --- markets ---------------------------------------------------------------------------------


class MarketSerializer(serializers.ModelSerializer[Market]):
    """A market's settings as the API shows them; `version` is also sent as the ETag."""

    class Meta:
        model = Market
        fields = [
            "code",
            "name",
            "languages",
            "timezone",
            "default_visibility",
            "active",
            "version",
            "updated_at",
        ]
        read_only_fields = fields


class MarketUpdateSerializer(StrictFieldsMixin, serializers.Serializer[Market]):
    """The settings a PATCH may change; only the keys sent are changed."""

    name = StrictCharField(max_length=120, required=False)
    languages = serializers.ListField(child=StrictCharField(), allow_empty=False, required=False)
    timezone = StrictCharField(max_length=64, required=False)
    default_visibility = serializers.ChoiceField(choices=Visibility.choices, required=False)
    active = serializers.BooleanField(required=False)


# --- rules -----------------------------------------------------------------------------------


class RuleSerializer(serializers.ModelSerializer[Rule]):
    """A market rule as the API shows it; `version` is also sent as the ETag."""

    market = serializers.CharField(source="market.code", read_only=True)
    author = serializers.CharField(source="author.username", read_only=True, allow_null=True)

    class Meta:
        model = Rule
        fields = [
            "id",
            "market",
            "action",
            "boost",
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


class RuleWriteSerializer(StrictFieldsMixin, serializers.Serializer[Rule]):
    """A rule as POST and PUT send it (PATCH sends any subset).

    Tags must exist, content types must be known, and a window must end after it starts: the
    rule services check these and answer with field errors.
    """

    action = serializers.ChoiceField(choices=RuleAction.choices)
    boost = serializers.IntegerField(min_value=0, max_value=1000, default=0)
    match_tags = serializers.ListField(child=StrictCharField(max_length=64), max_length=100, default=list)
    match_content_types = serializers.ListField(
        child=StrictCharField(max_length=16), max_length=20, default=list
    )
    match_sources = serializers.ListField(child=StrictCharField(max_length=120), max_length=100, default=list)
    starts_at = AwareDateTimeField(allow_null=True, default=None)
    ends_at = AwareDateTimeField(allow_null=True, default=None)
    note = StrictCharField(allow_blank=True, max_length=2000, default="")


# --- resolve ---------------------------------------------------------------------------------

# What a decision's `state` can be (the resolver's states; "visible" = by the market default).
DECISION_STATES = [
    ("visible", "Visible"),
    ("hidden", "Hidden"),
    ("shown", "Shown"),
    ("promoted", "Promoted"),
    ("pinned", "Pinned"),
]


class ResolveQuerySerializer(serializers.Serializer[Any]):
    """The query of a resolve request."""

    content_id = StrictCharField(max_length=128, help_text="The item's upstream id.")
    at = AwareDateTimeField(
        required=False,
        help_text="When to resolve, ISO 8601 with an offset (default: now).",
    )


class DecisionSerializer(serializers.Serializer[Any]):
    """What a market shows for one item at one time, and why (the resolver's decision)."""

    content_id = serializers.CharField()
    market = serializers.CharField()
    at = serializers.DateTimeField()
    visible = serializers.BooleanField()
    state = serializers.ChoiceField(choices=DECISION_STATES)
    decided_by = serializers.ChoiceField(choices=["position", "rule", "default"])
    boost = serializers.IntegerField()
    slot = serializers.IntegerField(allow_null=True)
    rule_id = serializers.CharField(allow_null=True)
    reason = serializers.CharField()
