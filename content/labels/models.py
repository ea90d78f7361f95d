"""Images, their machine labels and human decisions, sections and per-market moderation.

Imported at the end of `content.models` so that Django finds these models in the content app.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

__all__ = [
    "ImageAsset",
    "ImageBlock",
    "ImageLabel",
    "ImageStatus",
    "LabelBands",
    "LabelJob",
    "LabelJobState",
    "LabelStatus",
    "MarketModerationPolicy",
    "ModerationLabel",
    "Section",
    "SectionMapping",
]

PERCENT = [MinValueValidator(0.0), MaxValueValidator(100.0)]


class ImageStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    LABELLED = "labelled", "Labelled"
    FAILED = "failed", "Failed"


class ImageAsset(models.Model):
    """An image file in storage (S3 in production), optionally used by one content item."""

    item = models.ForeignKey(
        "content.ContentItem", null=True, blank=True, on_delete=models.SET_NULL, related_name="images"
    )
    # The storage name is the S3 object key in production (IMAGES_BUCKET), a path under MEDIA_ROOT locally.
    file = models.FileField(max_length=500, upload_to="images/")
    # EXIF-orientation-corrected renditions, so Rekognition's boxes line up with what people see.
    thumbnail = models.FileField(max_length=500, blank=True, upload_to="images/thumbs/")
    preview = models.FileField(max_length=500, blank=True, upload_to="images/previews/")
    original_name = models.CharField(max_length=255, blank=True)
    content_type = models.CharField(max_length=32)
    byte_size = models.PositiveBigIntegerField()
    # Width and height as displayed (after EXIF orientation).
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    checksum = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the file's bytes.")
    status = models.CharField(max_length=16, choices=ImageStatus.choices, default=ImageStatus.QUEUED)
    labeller = models.CharField(max_length=32, blank=True, help_text="Backend that produced the labels.")
    label_model_version = models.CharField(max_length=32, blank=True)
    moderation_model_version = models.CharField(max_length=32, blank=True)
    labelled_at = models.DateTimeField(null=True, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Grows on every change readers of the `images` shared table must see.
    version = models.PositiveBigIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "id"], name="image_status_idx")]

    def __str__(self) -> str:
        return self.original_name or self.file.name or f"image {self.pk}"

    @property
    def is_fake(self) -> bool:
        return self.labeller == "fake"


class LabelStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


class ImageLabel(models.Model):
    """One DetectLabels label on an image, and the decision about it (by a person or "auto")."""

    image = models.ForeignKey(ImageAsset, on_delete=models.CASCADE, related_name="labels")
    name = models.CharField(max_length=200)
    confidence = models.FloatField(validators=PERCENT)
    parents = models.JSONField(default=list, blank=True)
    categories = models.JSONField(default=list, blank=True)
    aliases = models.JSONField(default=list, blank=True)
    # [{"confidence": float, "box": {"left", "top", "width", "height"}}], ratios of the oriented image.
    instances = models.JSONField(default=list, blank=True)
    model_version = models.CharField(max_length=32)
    status = models.CharField(max_length=16, choices=LabelStatus.choices, default=LabelStatus.PENDING)
    # Empty with a decided_at means the confidence bands decided automatically.
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-confidence", "name"]
        constraints = [models.UniqueConstraint(fields=["image", "name"], name="imagelabel_unique")]
        indexes = [
            models.Index(fields=["status", "confidence"], name="imagelabel_status_conf_idx"),
            models.Index(fields=["name", "status"], name="imagelabel_name_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.confidence:.1f} ({self.status})"

    @property
    def decided_automatically(self) -> bool:
        return self.decided_at is not None and self.decided_by_id is None


class ModerationLabel(models.Model):
    """One DetectModerationLabels label; `top_category` is its level-1 ancestor."""

    image = models.ForeignKey(ImageAsset, on_delete=models.CASCADE, related_name="moderation_labels")
    name = models.CharField(max_length=200)
    parent_name = models.CharField(max_length=200, blank=True)
    top_category = models.CharField(max_length=200, db_index=True)
    # 1–3 on model v7; empty on v6, whose labels have two levels without the field.
    taxonomy_level = models.PositiveSmallIntegerField(null=True, blank=True)
    confidence = models.FloatField(validators=PERCENT)
    model_version = models.CharField(max_length=32)

    class Meta:
        ordering = ["top_category", "taxonomy_level", "-confidence"]
        constraints = [models.UniqueConstraint(fields=["image", "name"], name="moderationlabel_unique")]

    def __str__(self) -> str:
        return f"{self.name} {self.confidence:.1f}"


class LabelJobState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    DEAD = "dead", "Dead (gave up)"


class LabelJob(models.Model):
    """A request to label one image, retried with backoff until done or dead."""

    image = models.ForeignKey(ImageAsset, on_delete=models.CASCADE, related_name="jobs")
    state = models.CharField(max_length=16, choices=LabelJobState.choices, default=LabelJobState.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(default=5)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    locked_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="labeljob_due_idx")]

    def __str__(self) -> str:
        return f"label job {self.pk} for image {self.image_id} ({self.state}, {self.attempts} attempts)"


class Section(models.Model):
    """An app section (e.g. "Polar") that images join through approved, mapped labels."""

    name = models.CharField(max_length=120, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SectionMapping(models.Model):
    """An approved label `label_name` at `min_confidence` or more puts an image in `section`."""

    section = models.ForeignKey(Section, on_delete=models.CASCADE, related_name="mappings")
    label_name = models.CharField(max_length=200)
    min_confidence = models.FloatField(validators=PERCENT)

    class Meta:
        ordering = ["section", "label_name"]
        constraints = [
            models.UniqueConstraint(fields=["section", "label_name"], name="sectionmapping_unique")
        ]
        indexes = [models.Index(fields=["label_name"], name="sectionmapping_label_idx")]

    def __str__(self) -> str:
        return f"{self.label_name} ≥ {self.min_confidence:g} → {self.section_id}"


class LabelBands(models.Model):
    """Auto-accept and auto-reject thresholds: global (no section) or for labels mapped to a section."""

    section = models.OneToOneField(
        Section, null=True, blank=True, on_delete=models.CASCADE, related_name="bands"
    )
    auto_accept = models.FloatField(validators=PERCENT)
    auto_reject = models.FloatField(validators=PERCENT)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["section"], condition=models.Q(section__isnull=True), name="labelbands_one_global"
            ),
            models.CheckConstraint(
                condition=models.Q(auto_reject__lte=models.F("auto_accept")), name="labelbands_ordered"
            ),
        ]
        verbose_name_plural = "label bands"

    def __str__(self) -> str:
        where = "global" if self.section_id is None else f"section {self.section_id}"
        return f"{where}: accept ≥ {self.auto_accept:g}, reject < {self.auto_reject:g}"


# Rekognition's moderation taxonomy, top level (model 7). Policies match a label's top-level
# category, so a policy naming anything else ("Violense") would never block an image.
MODERATION_CATEGORIES: tuple[str, ...] = (
    "Explicit",
    "Non-Explicit Nudity of Intimate parts and Kissing",
    "Swimwear or Underwear",
    "Violence",
    "Visually Disturbing",
    "Drugs & Tobacco",
    "Alcohol",
    "Rude Gestures",
    "Gambling",
    "Hate Symbols",
)
# Model 6's top level, for images still labelled by it (stored as "6 (unversioned)").
LEGACY_MODERATION_CATEGORIES: tuple[str, ...] = (
    "Explicit Nudity",
    "Suggestive",
    "Drugs",
    "Tobacco",
)


class MarketModerationPolicy(models.Model):
    """In `market`, block images whose `category` moderation label reaches `block_at`."""

    market = models.ForeignKey("markets.Market", on_delete=models.CASCADE, related_name="moderation_policies")
    category = models.CharField(max_length=200, help_text="A top-level moderation category, e.g. Violence.")
    block_at = models.FloatField(validators=PERCENT)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["market", "category"]
        constraints = [models.UniqueConstraint(fields=["market", "category"], name="moderationpolicy_unique")]
        verbose_name_plural = "market moderation policies"

    def __str__(self) -> str:
        return f"{self.market_id}: {self.category} ≥ {self.block_at:g}"


class ImageBlock(models.Model):
    """An image blocked in a market, with the reason: which label, its confidence, the threshold."""

    image = models.ForeignKey(ImageAsset, on_delete=models.CASCADE, related_name="blocks")
    market = models.ForeignKey("markets.Market", on_delete=models.CASCADE, related_name="image_blocks")
    category = models.CharField(max_length=200)
    label_name = models.CharField(max_length=200)
    confidence = models.FloatField()
    threshold = models.FloatField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["market", "category"]
        constraints = [
            models.UniqueConstraint(fields=["image", "market", "category"], name="imageblock_unique")
        ]
        indexes = [models.Index(fields=["market", "image"], name="imageblock_market_idx")]

    def __str__(self) -> str:
        return self.reason

    @property
    def reason(self) -> str:
        return f'"{self.label_name}" {self.confidence:.0f} ≥ {self.threshold:g}'
