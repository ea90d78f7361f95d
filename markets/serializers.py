"""REST API serializers for markets, rules and the resolver's answer.

Serializers only parse and render: every write goes through `markets.services`, which validates
the values against the model (time zones, languages, tags, windows) and raises field errors.
The strict fields here exist so that wrong JSON types are refused instead of coerced.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from markets.models import Market, Rule, RuleAction, Visibility
from portal.api.fields import (
    AwareDateTimeField,
    StrictBooleanField,
    StrictCharField,
    StrictFieldsMixin,
    StrictIntegerField,
)
from portal.bounds import LANGUAGES_MAX, NOTE_MAX

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


class MarketCreateSerializer(StrictFieldsMixin, serializers.Serializer[Market]):
    """A new market or partner edition (admins only); it starts active.

    `copy_rules_from` copies every rule of that market as new rules of this one; the languages,
    time zone and default visibility left out are then taken from it too.
    """

    code = StrictCharField(
        max_length=32,
        help_text="ISO 3166-1 alpha-2 (`DE`) or a partner edition: country, hyphen, partner (`DE-TELEKOM`).",
    )
    name = StrictCharField(max_length=120)
    languages = serializers.ListField(
        child=StrictCharField(max_length=35), allow_empty=False, max_length=LANGUAGES_MAX, required=False
    )
    timezone = StrictCharField(max_length=64, required=False, help_text="IANA name, e.g. `Europe/Berlin`.")
    default_visibility = serializers.ChoiceField(choices=Visibility.choices, required=False)
    copy_rules_from = StrictCharField(
        max_length=32,
        required=False,
        help_text="The code of the market whose rules (and settings) to copy; the new market also "
        "joins its groups.",
    )
    groups = serializers.ListField(
        child=StrictCharField(max_length=32),
        required=False,
        max_length=100,
        help_text="Codes of market groups the new market joins.",
    )


class MarketUpdateSerializer(StrictFieldsMixin, serializers.Serializer[Market]):
    """The settings a PATCH may change; only the keys sent are changed."""

    name = StrictCharField(max_length=120, required=False)
    languages = serializers.ListField(
        child=StrictCharField(max_length=35), allow_empty=False, max_length=LANGUAGES_MAX, required=False
    )
    timezone = StrictCharField(max_length=64, required=False)
    default_visibility = serializers.ChoiceField(choices=Visibility.choices, required=False)
    active = serializers.BooleanField(
        required=False,
        help_text="Not changed here: admins POST to the market's `deactivate/` or `activate/`.",
    )

    def validate_active(self, value: bool) -> bool:
        raise serializers.ValidationError(
            "A market is deactivated or reactivated with POST /api/v1/markets/{code}/deactivate/ "
            "or /activate/ (admins only)."
        )


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
            "binding",
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
    boost = StrictIntegerField(min_value=0, max_value=1000, default=0)
    match_tags = serializers.ListField(child=StrictCharField(max_length=64), max_length=100, default=list)
    match_content_types = serializers.ListField(
        child=StrictCharField(max_length=16), max_length=20, default=list
    )
    match_sources = serializers.ListField(child=StrictCharField(max_length=120), max_length=100, default=list)
    starts_at = AwareDateTimeField(allow_null=True, default=None)
    ends_at = AwareDateTimeField(allow_null=True, default=None)
    note = StrictCharField(allow_blank=True, max_length=NOTE_MAX, default="")
    binding = StrictBooleanField(
        default=False,
        help_text=(
            "Hide rules only: a binding rule (a legal duty) overrides editors' positions. Only market "
            "managers of the market and admins may set or clear it (else 403)."
        ),
    )


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
    decided_by = serializers.ChoiceField(choices=["rights", "position", "group_position", "rule", "default"])
    step = serializers.IntegerField(
        help_text="The precedence step that decided: 0 rights, 1 binding rule, 2 the market's position, "
        "3 a group's position, 4 hide rule, 5 promote rule, 6 the market's default."
    )
    # DRF collects declared fields off the class, so the name may shadow Field.source.
    source = serializers.CharField(  # type: ignore[assignment]
        help_text="The market or group code whose rule or position decided ('' for rights)."
    )
    binding = serializers.BooleanField(help_text="Whether a binding hide rule decided.")
    boost = serializers.IntegerField()
    slot = serializers.IntegerField(allow_null=True)
    rule_id = serializers.CharField(allow_null=True)
    reason = serializers.CharField(
        help_text="Why: the deciding step and its source, then any of the item's images blocked "
        "in this market by moderation (the item still shows, without them)."
    )
    image_blocks = serializers.ListField(
        child=serializers.CharField(),
        help_text='The item\'s images blocked in this market, e.g. `Image "a.jpg" blocked in DE: '
        '"Violence" 72 ≥ 60`; empty when none is.',
    )
