"""REST API serializers for content items, tags and positions.

They parse and render only; `content.services` validates the values and writes.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from content.models import ContentItem, ContentType, GroupPosition, Position, PositionState, Tag
from content.services import BOOST_RANGE, MAX_UPSERT_ROWS, NO_RIGHTS, ContentRights, ContentRow
from markets.models import Market
from portal.api.fields import AwareDateTimeField, StrictCharField, StrictFieldsMixin, StrictIntegerField
from portal.bounds import RIGHTS_MARKETS_MAX, SUMMARY_MAX

MAX_BULK_CONTENT_IDS = 10_000

# --- tags ------------------------------------------------------------------------------------


class TagSerializer(serializers.ModelSerializer[Tag]):
    class Meta:
        model = Tag
        fields = ["slug", "label"]
        read_only_fields = fields


class TagCreateSerializer(StrictFieldsMixin, serializers.Serializer[Tag]):
    slug = StrictCharField(max_length=64, help_text="Lower-case letters, digits and hyphens.")
    label = StrictCharField(max_length=120, required=False, allow_blank=True, default="")  # type: ignore[assignment]


# --- content items ---------------------------------------------------------------------------


class RightsSerializer(StrictFieldsMixin, serializers.Serializer[Any]):
    """An item's upstream licensing: where and when it may appear (the resolver applies it first)."""

    allow = serializers.ListField(
        child=StrictCharField(max_length=32),
        max_length=RIGHTS_MARKETS_MAX,
        required=False,
        default=list,
        help_text="Market codes where the item may appear; empty means everywhere.",
    )
    deny = serializers.ListField(
        child=StrictCharField(max_length=32),
        max_length=RIGHTS_MARKETS_MAX,
        required=False,
        default=list,
        help_text="Market codes where the item may not appear.",
    )
    starts_at = AwareDateTimeField(
        allow_null=True, required=False, default=None, help_text="Available from (inclusive); null: no start."
    )
    ends_at = AwareDateTimeField(
        allow_null=True, required=False, default=None, help_text="Available until (exclusive); null: no end."
    )


def rights_representation(item: ContentItem) -> dict[str, Any] | None:
    """The item's rights as the API shows them: None when it may appear everywhere, always."""
    if not item.has_rights:
        return None
    when = serializers.DateTimeField()
    return {
        "allow": list(item.rights_allow),
        "deny": list(item.rights_deny),
        "starts_at": when.to_representation(item.rights_starts_at) if item.rights_starts_at else None,
        "ends_at": when.to_representation(item.rights_ends_at) if item.rights_ends_at else None,
    }


class ContentItemSerializer(serializers.ModelSerializer[ContentItem]):
    """An item in a list; `tags` are the effective tags (upstream plus editors' changes)."""

    tags = serializers.SlugRelatedField[Tag](many=True, read_only=True, slug_field="slug")
    # Items without a link have url "": a URLField would promise an absolute URI (format: uri).
    url = serializers.CharField(read_only=True)
    rights = serializers.SerializerMethodField(
        help_text="Upstream licensing set by ingestion; null when the item may appear everywhere, always."
    )

    @extend_schema_field(RightsSerializer(allow_null=True))
    def get_rights(self, item: ContentItem) -> dict[str, Any] | None:
        return rights_representation(item)

    class Meta:
        model = ContentItem
        fields = [
            "upstream_id",
            "content_type",
            "title",
            "summary",
            "url",
            "source",
            "language",
            "published_at",
            "premium",
            "tags",
            "rights",
            "version",
            "updated_at",
        ]
        read_only_fields = fields


class ContentItemDetailSerializer(ContentItemSerializer):
    """One item, with the tags ingestion delivered beside the effective ones."""

    class Meta(ContentItemSerializer.Meta):
        fields = [*ContentItemSerializer.Meta.fields, "upstream_tags", "created_at"]
        read_only_fields = fields


class ContentRowSerializer(StrictFieldsMixin, serializers.Serializer[Any]):
    """One item as ingestion sends it, keyed by its upstream id."""

    upstream_id = StrictCharField(max_length=128)
    content_type = serializers.ChoiceField(choices=ContentType.choices)
    title = StrictCharField(max_length=500)
    source = StrictCharField(max_length=120)  # type: ignore[assignment]
    language = StrictCharField(max_length=16)
    published_at = AwareDateTimeField()
    summary = StrictCharField(allow_blank=True, max_length=SUMMARY_MAX, required=False, default="")
    url = StrictCharField(allow_blank=True, max_length=1000, required=False, default="")
    premium = serializers.BooleanField(required=False, default=False)
    tags = serializers.ListField(
        child=StrictCharField(max_length=64), max_length=200, required=False, default=list
    )
    rights = RightsSerializer(
        required=False,
        allow_null=True,
        help_text="Licensing: omit to leave the item's rights as they are; null removes them.",
    )

    def to_row(self) -> ContentRow:
        data = dict(self.validated_data)
        data["tags"] = tuple(data.get("tags", ()))
        if "rights" in data:
            rights = data.pop("rights")
            data["rights"] = (
                NO_RIGHTS
                if rights is None
                else ContentRights(
                    allow=tuple(rights.get("allow", ())),
                    deny=tuple(rights.get("deny", ())),
                    starts_at=rights.get("starts_at"),
                    ends_at=rights.get("ends_at"),
                )
            )
        return ContentRow(**data)


class BulkUpsertRequestSerializer(serializers.Serializer[Any]):
    """The body of a bulk upsert (documentation only: rows are validated one by one)."""

    items = ContentRowSerializer(many=True, max_length=MAX_UPSERT_ROWS)  # type: ignore[call-arg]


class BulkUpsertResultSerializer(serializers.Serializer[Any]):
    created = serializers.ListField(child=serializers.CharField(), help_text="Upstream ids created.")
    updated = serializers.ListField(child=serializers.CharField(), help_text="Upstream ids changed.")
    unchanged = serializers.ListField(
        child=serializers.CharField(), help_text="Upstream ids already up to date."
    )


class ItemTagsSerializer(StrictFieldsMixin, serializers.Serializer[Any]):
    add = serializers.ListField(child=StrictCharField(max_length=64), max_length=100, default=list)
    remove = serializers.ListField(child=StrictCharField(max_length=64), max_length=100, default=list)


# --- positions -------------------------------------------------------------------------------


class PositionSerializer(serializers.ModelSerializer[Position]):
    """A stored position; `version` is also sent as the ETag (0: no position stored yet)."""

    content_id = serializers.CharField(source="item.upstream_id", read_only=True)
    market = serializers.CharField(source="market.code", read_only=True)
    author = serializers.CharField(source="author.username", read_only=True, allow_null=True)
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True)

    class Meta:
        model = Position
        fields = [
            "content_id",
            "market",
            "state",
            "boost",
            "slot",
            "section",
            "starts_at",
            "ends_at",
            "reason",
            "author",
            "version",
            "updated_at",
        ]
        read_only_fields = fields


class PositionChangeSerializer(StrictFieldsMixin, serializers.Serializer[Any]):
    """A position change: state plus what that state needs; omitted fields take their defaults."""

    state = serializers.ChoiceField(choices=PositionState.choices)
    boost = StrictIntegerField(
        min_value=0,
        max_value=1000,
        default=0,
        error_messages={"max_value": BOOST_RANGE, "min_value": BOOST_RANGE, "invalid": BOOST_RANGE},
    )
    slot = StrictIntegerField(min_value=1, max_value=1000, allow_null=True, default=None)
    section = StrictCharField(allow_blank=True, max_length=64, default="")
    starts_at = AwareDateTimeField(allow_null=True, default=None)
    ends_at = AwareDateTimeField(allow_null=True, default=None)
    reason = StrictCharField(allow_blank=True, max_length=500, default="")


class PositionBulkSerializer(PositionChangeSerializer):
    """One change for many items in one or several markets."""

    content_ids = serializers.ListField(
        child=StrictCharField(max_length=128),
        allow_empty=False,
        max_length=MAX_BULK_CONTENT_IDS,
        help_text=f"Upstream ids, at most {MAX_BULK_CONTENT_IDS:,}.",
    )
    markets = serializers.ListField(
        child=StrictCharField(max_length=32),
        allow_empty=False,
        max_length=500,
        required=False,
        help_text="Market codes (default: the market in the URL).",
    )

    def to_internal_value(self, data: Any) -> Any:
        # Refuse an oversized list before validating each of its (possibly 100,000) entries.
        ids = data.get("content_ids") if isinstance(data, dict) else None
        if isinstance(ids, list) and len(ids) > MAX_BULK_CONTENT_IDS:
            raise serializers.ValidationError(
                {"content_ids": [f"Send at most {MAX_BULK_CONTENT_IDS:,} content ids per request."]}
            )
        return super().to_internal_value(data)

    def validate_markets(self, codes: list[str]) -> list[Market]:
        wanted = list(dict.fromkeys(code.strip().upper() for code in codes))
        found = {m.code: m for m in Market.objects.filter(code__in=wanted)}
        unknown = [code for code in wanted if code not in found]
        if unknown:
            raise serializers.ValidationError(f"Unknown market(s): {', '.join(unknown)}.")
        return [found[code] for code in wanted]


class RefusalSerializer(serializers.Serializer[Any]):
    market = serializers.CharField(help_text="Market code ('' when the refusal is not market-specific).")
    content_id = serializers.CharField(help_text="Upstream id ('' when the whole market was refused).")
    reason = serializers.CharField()
    count = serializers.IntegerField(help_text="How many (market, item) pairs this refusal covers.")


class OverrideSerializer(serializers.Serializer[Any]):
    market = serializers.CharField(source="market_code")
    reason = serializers.CharField(
        help_text='Why: "binding rule DE #7", "not licensed in FR", "not licensed in DE until 2027-01-01".'
    )
    count = serializers.IntegerField(help_text="How many of the items this covers in the market.")
    content_ids = serializers.ListField(
        child=serializers.CharField(), source="examples", help_text="Up to five of them."
    )


class PositionBulkResultSerializer(serializers.Serializer[Any]):
    changed = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    refused = RefusalSerializer(many=True)
    will_stay_hidden = OverrideSerializer(
        many=True,
        help_text="Positions set (shown, promoted, pinned) that the item's rights or a binding hide rule "
        "override: those items stay hidden in that market, by market and reason.",
    )
    change_requests = serializers.ListField(
        child=serializers.IntegerField(),
        required=False,
        help_text="Change requests made for the markets whose approval policy this change needs "
        "(only when there are any; 202 when every market needed one).",
    )


# --- group positions -------------------------------------------------------------------------

GROUP_POSITION_STATES = [
    (value, label) for value, label in PositionState.choices if value != PositionState.PINNED
]


class GroupPositionSerializer(serializers.ModelSerializer[GroupPosition]):
    """A stored group position; `version` is also sent as the ETag (0: none stored yet)."""

    content_id = serializers.CharField(source="item.upstream_id", read_only=True)
    group = serializers.CharField(source="group.code", read_only=True)
    author = serializers.CharField(source="author.username", read_only=True, allow_null=True)
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True)

    class Meta:
        model = GroupPosition
        fields = [
            "content_id",
            "group",
            "state",
            "boost",
            "section",
            "starts_at",
            "ends_at",
            "reason",
            "author",
            "version",
            "updated_at",
        ]
        read_only_fields = fields


class GroupPositionChangeSerializer(StrictFieldsMixin, serializers.Serializer[Any]):
    """A group position change: hide, show, promote or reset (pins stay per market)."""

    state = serializers.ChoiceField(choices=GROUP_POSITION_STATES)
    boost = StrictIntegerField(
        min_value=0,
        max_value=1000,
        default=0,
        error_messages={"max_value": BOOST_RANGE, "min_value": BOOST_RANGE, "invalid": BOOST_RANGE},
    )
    section = StrictCharField(allow_blank=True, max_length=64, default="")
    starts_at = AwareDateTimeField(allow_null=True, default=None)
    ends_at = AwareDateTimeField(allow_null=True, default=None)
    reason = StrictCharField(allow_blank=True, max_length=500, default="")


class GroupPositionBulkSerializer(GroupPositionChangeSerializer):
    """One change for many items in a group: one row per item, however many members."""

    content_ids = serializers.ListField(
        child=StrictCharField(max_length=128),
        allow_empty=False,
        max_length=MAX_BULK_CONTENT_IDS,
        help_text=f"Upstream ids, at most {MAX_BULK_CONTENT_IDS:,}.",
    )

    def to_internal_value(self, data: Any) -> Any:
        ids = data.get("content_ids") if isinstance(data, dict) else None
        if isinstance(ids, list) and len(ids) > MAX_BULK_CONTENT_IDS:
            raise serializers.ValidationError(
                {"content_ids": [f"Send at most {MAX_BULK_CONTENT_IDS:,} content ids per request."]}
            )
        return super().to_internal_value(data)
