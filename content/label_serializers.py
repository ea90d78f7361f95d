"""Serializers of the images and labels REST API: shapes only, no decisions."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from content.image_models import ImageAsset, ImageBlock, ImageLabel, ModerationLabel


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
        child=serializers.IntegerField(min_value=1), allow_empty=False, max_length=10_000
    )
    status = serializers.ChoiceField(choices=["approved", "rejected"])


class DecisionResultSerializer(serializers.Serializer[Any]):
    changed = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    image_ids = serializers.ListField(child=serializers.IntegerField())


class RetryResultSerializer(serializers.Serializer[Any]):
    job_id = serializers.IntegerField()
    state = serializers.CharField()
