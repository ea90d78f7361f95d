"""Serializers of the images and labels REST API: shapes only, no decisions."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from content.labels.models import (
    ImageAsset,
    ImageBlock,
    ImageLabel,
    LabelBands,
    MarketModerationPolicy,
    ModerationLabel,
    Section,
    SectionMapping,
)
from portal.api.fields import StrictIntegerField


class BoxSerializer(serializers.Serializer[Any]):
    left = serializers.FloatField()
    top = serializers.FloatField()
    width = serializers.FloatField()
    height = serializers.FloatField()


class InstanceSerializer(serializers.Serializer[Any]):
    confidence = serializers.FloatField()
    box = BoxSerializer()


class ImageLabelSerializer(serializers.ModelSerializer[ImageLabel]):
    parents = serializers.ListField(child=serializers.CharField())
    categories = serializers.ListField(child=serializers.CharField())
    aliases = serializers.ListField(child=serializers.CharField())
    instances = InstanceSerializer(many=True)
    decided_by = serializers.SerializerMethodField(help_text='Username, "auto", or null while pending.')

    class Meta:
        model = ImageLabel
        fields = [
            "id",
            "name",
            "confidence",
            "parents",
            "categories",
            "aliases",
            "instances",
            "model_version",
            "status",
            "decided_by",
            "decided_at",
        ]

    def get_decided_by(self, label: ImageLabel) -> str | None:
        if label.decided_at is None:
            return None
        return label.decided_by.get_username() if label.decided_by else "auto"


class ModerationLabelSerializer(serializers.ModelSerializer[ModerationLabel]):
    class Meta:
        model = ModerationLabel
        fields = ["name", "parent_name", "top_category", "taxonomy_level", "confidence", "model_version"]


class ImageBlockSerializer(serializers.ModelSerializer[ImageBlock]):
    market = serializers.CharField(source="market.code")

    class Meta:
        model = ImageBlock
        fields = ["market", "category", "label_name", "confidence", "threshold"]


class ImageSerializer(serializers.ModelSerializer[ImageAsset]):
    content_id = serializers.SerializerMethodField()
    key = serializers.CharField(source="file.name")
    is_fake = serializers.BooleanField(read_only=True, help_text="Labels come from the fake labeller.")

    class Meta:
        model = ImageAsset
        fields = [
            "id",
            "content_id",
            "key",
            "original_name",
            "content_type",
            "byte_size",
            "width",
            "height",
            "checksum",
            "status",
            "labeller",
            "is_fake",
            "label_model_version",
            "moderation_model_version",
            "labelled_at",
            "version",
            "created_at",
            "updated_at",
        ]

    def get_content_id(self, image: ImageAsset) -> str | None:
        return image.item.upstream_id if image.item else None


class ImageDetailSerializer(ImageSerializer):
    labels = ImageLabelSerializer(many=True)
    moderation_labels = ModerationLabelSerializer(many=True)
    blocks = ImageBlockSerializer(many=True)
    sections = serializers.ListField(child=serializers.CharField())

    class Meta(ImageSerializer.Meta):
        fields = [*ImageSerializer.Meta.fields, "labels", "moderation_labels", "blocks", "sections"]


class ImageUploadSerializer(serializers.Serializer[Any]):
    files = serializers.ListField(
        child=serializers.FileField(), allow_empty=False, help_text="JPEG or PNG files, ≤ 15 MB each."
    )
    content_id = serializers.CharField(required=False, allow_blank=True, max_length=128)


class ImageRegisterSerializer(serializers.Serializer[Any]):
    keys = serializers.ListField(
        child=serializers.CharField(max_length=500),
        allow_empty=False,
        max_length=50,
        help_text="Keys of objects already in the images bucket.",
    )
    content_id = serializers.CharField(required=False, allow_blank=True, max_length=128)


class UploadResultSerializer(serializers.Serializer[Any]):
    created = ImageSerializer(many=True)
    existing = ImageSerializer(many=True)


class LabelDecisionSerializer(serializers.Serializer[Any]):
    label_ids = serializers.ListField(
        # A bigger id cannot exist and would overflow the database's 64-bit integer (a 500).
        child=StrictIntegerField(min_value=1, max_value=2**63 - 1),
        allow_empty=False,
        max_length=10_000,
    )
    status = serializers.ChoiceField(choices=["approved", "rejected"])


class DecisionResultSerializer(serializers.Serializer[Any]):
    changed = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    image_ids = serializers.ListField(child=serializers.IntegerField())


class RetryResultSerializer(serializers.Serializer[Any]):
    job_id = serializers.IntegerField()
    state = serializers.CharField()


# --- sections, mappings, admission, bands, moderation policies --------------------------------

PERCENT_HELP = "A confidence in percent, 0–100."


def _percent_field(help_text: str = PERCENT_HELP) -> serializers.FloatField:
    return serializers.FloatField(min_value=0.0, max_value=100.0, help_text=help_text)


class SectionMappingSerializer(serializers.ModelSerializer[SectionMapping]):
    class Meta:
        model = SectionMapping
        fields = ["id", "label_name", "min_confidence"]


class OwnBandsSerializer(serializers.ModelSerializer[LabelBands]):
    class Meta:
        model = LabelBands
        fields = ["auto_accept", "auto_reject", "updated_at"]


class SectionSerializer(serializers.ModelSerializer[Section]):
    image_count = serializers.IntegerField(
        read_only=True, help_text="Images with an approved label mapped here at its threshold or more."
    )
    mappings = SectionMappingSerializer(many=True, read_only=True)
    bands = serializers.SerializerMethodField(
        help_text="The section's own bands; null when it uses the global ones."
    )

    class Meta:
        model = Section
        fields = ["id", "name", "image_count", "mappings", "bands", "created_at"]

    @extend_schema_field(OwnBandsSerializer(allow_null=True))
    def get_bands(self, section: Section) -> dict[str, Any] | None:
        own = getattr(section, "bands", None)
        return OwnBandsSerializer(own).data if own is not None else None


class SectionWriteSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=120, help_text="Unique, case-insensitively, e.g. Polar.")


class MappingCreateSerializer(serializers.Serializer[Any]):
    label_name = serializers.CharField(max_length=200, help_text="A label name, e.g. Glacier.")
    min_confidence = _percent_field("Approved labels at this confidence or more admit their image.")


class MappingUpdateSerializer(serializers.Serializer[Any]):
    min_confidence = _percent_field("Approved labels at this confidence or more admit their image.")


class AdmissionQuerySerializer(serializers.Serializer[Any]):
    # The field is called `label` in the query string (?label=Glacier), shadowing Field.label.
    label = serializers.CharField(max_length=200, help_text="A label name, e.g. Glacier.")  # type: ignore[assignment]
    min_confidence = _percent_field("The threshold to try, e.g. 85.")


class AdmissionSerializer(serializers.Serializer[Any]):
    section_id = serializers.IntegerField()
    label = serializers.CharField(source="label_name")  # type: ignore[assignment]
    min_confidence = serializers.FloatField()
    count = serializers.IntegerField(
        source="by_label", help_text="Images with this label approved at the threshold or more."
    )
    section_now = serializers.IntegerField(help_text="Images in the section now.")
    section_then = serializers.IntegerField(
        help_text="Images in the section with this threshold for the label."
    )
    difference = serializers.IntegerField(
        help_text="section_then − section_now: images that would join (or leave)."
    )


class BandsSerializer(serializers.Serializer[Any]):
    section_id = serializers.IntegerField(allow_null=True, help_text="null for the global bands.")
    auto_accept = serializers.FloatField(
        help_text="Labels at this confidence or more are approved automatically."
    )
    auto_reject = serializers.FloatField(help_text="Labels below this confidence are rejected automatically.")
    inherited = serializers.BooleanField(
        help_text="No bands stored here: a section uses the global bands, the global bands the settings."
    )
    updated_at = serializers.DateTimeField(allow_null=True)


class BandsWriteSerializer(serializers.Serializer[Any]):
    auto_accept = _percent_field("Approve labels at this confidence or more automatically.")
    auto_reject = _percent_field("Reject labels below this confidence automatically (≤ auto_accept).")
    apply_to_pending = serializers.BooleanField(
        default=False,
        help_text="Also decide the labels pending now by the new bands; otherwise only new results use them.",
    )


class ModerationPolicySerializer(serializers.ModelSerializer[MarketModerationPolicy]):
    market = serializers.CharField(source="market.code", read_only=True)

    class Meta:
        model = MarketModerationPolicy
        fields = ["id", "market", "category", "block_at", "updated_at"]


class ModerationPolicyCreateSerializer(serializers.Serializer[Any]):
    category = serializers.CharField(
        max_length=200, help_text="A top-level moderation category, e.g. Violence."
    )
    block_at = _percent_field("Block images whose label in this category reaches this confidence.")


class ModerationPolicyUpdateSerializer(serializers.Serializer[Any]):
    block_at = _percent_field("Block images whose label in this category reaches this confidence.")
