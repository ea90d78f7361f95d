"""Reads for images: the review queue, an image's review page, sections, moderation blocks, the
`images` shared item and the blocked-image reasons of content items.

Every list here is read in a fixed number of queries, whatever its length.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db.models import (
    Count,
    Exists,
    F,
    Func,
    IntegerField,
    Min,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce, Lower

from content.labels.models import (
    ImageAsset,
    ImageBlock,
    ImageLabel,
    ImageStatus,
    LabelBands,
    LabelJob,
    LabelJobState,
    LabelStatus,
    MarketModerationPolicy,
    ModerationLabel,
    Section,
    SectionMapping,
)
from content.models import ContentItem
from markets.models import Market
from positioning.tables import SCHEMA_VERSION

# --- the review queue ------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueFilters:
    """Which labels the queue looks at; an image is listed when one of its labels matches all."""

    label: str = ""
    category: str = ""
    min_confidence: float | None = None
    max_confidence: float | None = None
    status: str = LabelStatus.PENDING
    model_version: str = ""
    reviewer: str = ""

    def label_q(self, prefix: str = "") -> Q:
        """Return the condition on labels, with `prefix` ("labels__") when used from images."""
        q = Q()
        if self.status:
            q &= Q(**{f"{prefix}status": self.status})
        if self.label:
            q &= Q(**{f"{prefix}name__iexact": self.label.strip()})
        if self.category:
            # Categories are a JSON list of names: match the quoted name inside the stored text.
            q &= Q(**{f"{prefix}categories__icontains": f'"{self.category.strip()}"'})
        if self.min_confidence is not None:
            q &= Q(**{f"{prefix}confidence__gte": self.min_confidence})
        if self.max_confidence is not None:
            q &= Q(**{f"{prefix}confidence__lte": self.max_confidence})
        if self.model_version:
            q &= Q(**{f"{prefix}model_version": self.model_version.strip()})
        if self.reviewer:
            if self.reviewer == "auto":
                q &= Q(**{f"{prefix}decided_at__isnull": False, f"{prefix}decided_by__isnull": True})
            else:
                q &= Q(**{f"{prefix}decided_by__username": self.reviewer.strip()})
        return q


def review_queue(*, filters: QueueFilters = QueueFilters()) -> QuerySet[ImageAsset]:
    """Return images with a label matching `filters`, least confident matching label first.

    Each image carries `queue_confidence` (its least confident matching label) and
    `pending_count`.
    """
    return (
        ImageAsset.objects.annotate(
            queue_confidence=Min("labels__confidence", filter=filters.label_q("labels__")),
            pending_count=Count("labels", filter=Q(labels__status=LabelStatus.PENDING)),
        )
        .filter(queue_confidence__isnull=False)
        .order_by("queue_confidence", "id")
    )


def queue_next(*, filters: QueueFilters, image: ImageAsset) -> ImageAsset | None:
    """Return the image after `image` in queue order (wrapping to the first), or None if alone."""
    queue = review_queue(filters=filters)
    current = ImageLabel.objects.filter(filters.label_q(), image=image).aggregate(c=Min("confidence"))["c"]
    if current is not None:
        later = (
            queue.filter(Q(queue_confidence__gt=current) | Q(queue_confidence=current, id__gt=image.pk))
            .only("id")
            .first()
        )
        if later is not None:
            return later
    return queue.exclude(pk=image.pk).only("id").first()


# --- one image -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageReview:
    """Everything the review page shows about one image."""

    image: ImageAsset
    labels: list[ImageLabel]
    moderation_labels: list[ModerationLabel]
    blocks: list[ImageBlock]
    sections: list[str]
    last_job: LabelJob | None

    @property
    def pending(self) -> list[ImageLabel]:
        return [label for label in self.labels if label.status == LabelStatus.PENDING]


def image_review(*, image_id: int) -> ImageReview:
    """Return an image with its labels, moderation labels, blocks, sections and latest job.

    Raises ImageAsset.DoesNotExist.
    """
    image = ImageAsset.objects.select_related("item", "uploaded_by").get(pk=image_id)
    labels = list(image.labels.select_related("decided_by").order_by("-confidence", "name"))
    return ImageReview(
        image=image,
        labels=labels,
        moderation_labels=list(image.moderation_labels.all()),
        blocks=list(image.blocks.select_related("market").order_by("market__code", "category")),
        sections=image_sections([image.pk]).get(image.pk, []),
        last_job=image.jobs.order_by("-id").first(),
    )


def images_by_ids(*, image_ids: Sequence[int]) -> list[ImageAsset]:
    """Return the images with `image_ids` (missing ids are skipped), in id order."""
    return list(ImageAsset.objects.filter(pk__in=list(image_ids)).order_by("pk"))


# --- sections --------------------------------------------------------------------------------


def _mapping_q(mappings: Iterable[tuple[str, float]]) -> Q | None:
    q: Q | None = None
    for name, threshold in mappings:
        part = Q(name__iexact=name, confidence__gte=threshold)
        q = part if q is None else q | part
    return q


def section_image_ids(
    *, section: Section, overrides: Mapping[str, float] | None = None
) -> QuerySet[ImageLabel, int]:
    """Return the ids of images in `section`: an approved label mapped to it at its threshold.

    `overrides` ({label name: threshold}) answers "what if": it replaces or adds thresholds.
    """
    thresholds = {m.label_name.lower(): (m.label_name, m.min_confidence) for m in section.mappings.all()}
    for name, value in (overrides or {}).items():
        thresholds[name.lower()] = (name, value)
    q = _mapping_q(thresholds.values())
    if q is None:
        return ImageLabel.objects.none().values_list("image_id", flat=True)
    return (
        ImageLabel.objects.filter(q, status=LabelStatus.APPROVED)
        .values_list("image_id", flat=True)
        .order_by("image_id")
        .distinct()
    )


@dataclass(frozen=True)
class Admission:
    """How many images a label threshold admits, and the section's size now and with it."""

    label_name: str
    min_confidence: float
    by_label: int
    section_now: int
    section_then: int

    @property
    def difference(self) -> int:
        return self.section_then - self.section_now


def section_admission(*, section: Section, label_name: str, min_confidence: float) -> Admission:
    """Return how many images `label_name` ≥ `min_confidence` would admit to `section` (3 queries)."""
    by_label = (
        ImageLabel.objects.filter(
            status=LabelStatus.APPROVED, name__iexact=label_name.strip(), confidence__gte=min_confidence
        )
        .values("image_id")
        .distinct()
        .count()
    )
    return Admission(
        label_name=label_name,
        min_confidence=min_confidence,
        by_label=by_label,
        section_now=section_image_ids(section=section).count(),
        section_then=section_image_ids(
            section=section, overrides={label_name.strip(): min_confidence}
        ).count(),
    )


@dataclass(frozen=True)
class SectionRow:
    section: Section
    image_count: int
    mappings: list[SectionMapping] = field(default_factory=list)


def sections_overview() -> list[SectionRow]:
    """Return every section with its mappings and image count (two queries plus one per section)."""
    sections = list(Section.objects.prefetch_related("mappings").select_related("bands"))
    return [
        SectionRow(
            section=s, image_count=section_image_ids(section=s).count(), mappings=list(s.mappings.all())
        )
        for s in sections
    ]


def section_get(*, section_id: int) -> Section:
    """Return a section with its mappings and bands. Raises Section.DoesNotExist."""
    return Section.objects.prefetch_related("mappings").select_related("bands").get(pk=section_id)


def section_images(*, section: Section, limit: int = 60) -> tuple[int, list[ImageAsset]]:
    """Return the number of images in `section` and the most recent `limit` of them."""
    ids = section_image_ids(section=section)
    return ids.count(), list(ImageAsset.objects.filter(pk__in=ids).order_by("-id")[:limit])


def image_sections(image_ids: Iterable[int]) -> dict[int, list[str]]:
    """Return the section names of each image (two queries: mappings, approved labels)."""
    ids = list(image_ids)
    mappings: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for name, section_name, threshold in SectionMapping.objects.values_list(
        "label_name", "section__name", "min_confidence"
    ):
        mappings[name.lower()].append((section_name, threshold))
    result: dict[int, set[str]] = defaultdict(set)
    if mappings and ids:
        approved = ImageLabel.objects.filter(image_id__in=ids, status=LabelStatus.APPROVED).values_list(
            "image_id", "name", "confidence"
        )
        for image_id, name, confidence in approved:
            for section_name, threshold in mappings.get(name.lower(), ()):
                if confidence >= threshold:
                    result[image_id].add(section_name)
    return {image_id: sorted(names) for image_id, names in result.items()}


def label_names(*, limit: int = 500) -> list[str]:
    """Return the distinct label names seen on images, most frequent first."""
    rows = ImageLabel.objects.values("name").annotate(n=Count("id")).order_by("-n", "name")[:limit]
    return [row["name"] for row in rows]


def model_versions() -> list[str]:
    """Return the distinct label model versions stored."""
    return sorted(set(ImageLabel.objects.values_list("model_version", flat=True).distinct()))


def label_categories() -> list[str]:
    """Return the distinct label categories (read from at most 5,000 recent labels)."""
    names: set[str] = set()
    for categories in ImageLabel.objects.order_by("-id").values_list("categories", flat=True)[:5000]:
        names.update(str(c) for c in categories or ())
    return sorted(names)


# --- moderation ------------------------------------------------------------------------------


def moderation_categories() -> list[str]:
    """Return the top-level moderation categories seen so far plus those used by policies."""
    seen = set(ModerationLabel.objects.values_list("top_category", flat=True).distinct())
    seen |= set(MarketModerationPolicy.objects.values_list("category", flat=True).distinct())
    return sorted(seen)


def market_policies(*, market: Market) -> list[MarketModerationPolicy]:
    """Return `market`'s moderation policies."""
    return list(
        MarketModerationPolicy.objects.filter(market=market).select_related("market").order_by("category")
    )


def market_blocks(*, market: Market, limit: int = 200) -> tuple[int, list[ImageBlock]]:
    """Return how many images are blocked in `market` and the latest `limit` blocks."""
    qs = ImageBlock.objects.filter(market=market)
    return qs.values("image_id").distinct().count(), list(
        qs.select_related("image", "image__item").order_by("-id")[:limit]
    )


def block_reason(block: ImageBlock, market_code: str) -> str:
    """Return the sentence that explains a block, e.g. `blocked in DE: "Violence" 72 ≥ 60`."""
    return f'blocked in {market_code}: "{block.label_name}" {block.confidence:.0f} ≥ {block.threshold:g}'


def blocked_images_by_item(
    items: Iterable[ContentItem | int], markets: Iterable[Market | str]
) -> dict[tuple[int, int], list[str]]:
    """Return {(item id, market id): [reasons]} for images of `items` blocked in `markets` (one query).

    Markets are given as rows or as codes. A reason reads `Image "glacier.jpg" blocked in DE:
    "Violence" 72 ≥ 60`.
    """
    item_ids = [i if isinstance(i, int) else i.pk for i in items]
    codes = [m if isinstance(m, str) else m.code for m in markets]
    if not item_ids or not codes:
        return {}
    rows = (
        ImageBlock.objects.filter(image__item_id__in=item_ids, market__code__in=codes)
        .select_related("image", "market")
        .order_by("image__item_id", "market_id", "image_id", "category")
    )
    reasons: dict[tuple[int, int], list[str]] = defaultdict(list)
    for block in rows:
        name = block.image.original_name or f"#{block.image_id}"
        key = (block.image.item_id or 0, block.market_id)
        reasons[key].append(f'Image "{name}" {block_reason(block, block.market.code)}')
    return dict(reasons)


def reason_with_image_blocks(reason: str, blocks: Sequence[str]) -> str:
    """Return the resolver's `reason` followed by the item's blocked images, as the item page shows.

    Moderation blocks an image, not the item (DESIGN: the explanation mentions the blocked image).
    """
    return "; ".join([reason, *blocks]) if blocks else reason


# --- the `images` shared item ----------------------------------------------------------------


def _round(value: float) -> float:
    return round(float(value), 2)


def image_shared_items(image_ids: Iterable[int | str]) -> dict[str, dict[str, Any]]:
    """Return the `images` shared-table item of each image, keyed by image id (as text).

    Items carry approved labels (name, confidence), sections, moderation labels, blocked markets
    with their reasons, the model versions, `version` and `updated_at`. Missing ids are skipped.
    Five queries whatever the number of images.
    """
    ids = sorted({int(i) for i in image_ids})
    if not ids:
        return {}
    images = list(
        ImageAsset.objects.filter(pk__in=ids)
        .select_related("item")
        .prefetch_related(
            Prefetch(
                "labels",
                queryset=ImageLabel.objects.filter(status=LabelStatus.APPROVED).order_by(
                    "-confidence", "name"
                ),
                to_attr="approved_labels",
            ),
            Prefetch("moderation_labels", to_attr="moderation_list"),
            Prefetch("blocks", queryset=ImageBlock.objects.select_related("market"), to_attr="block_list"),
        )
    )
    sections = image_sections(ids)
    items: dict[str, dict[str, Any]] = {}
    for image in images:
        items[str(image.pk)] = {
            "image_id": str(image.pk),
            "content_id": image.item.upstream_id if image.item else None,
            "key": image.file.name,
            "width": image.width,
            "height": image.height,
            "labels": [
                {"name": label.name, "confidence": _round(label.confidence)}
                for label in image.approved_labels
            ],
            "sections": sections.get(image.pk, []),
            "moderation_labels": [
                {
                    "name": m.name,
                    "parent": m.parent_name,
                    "category": m.top_category,
                    "level": m.taxonomy_level,
                    "confidence": _round(m.confidence),
                }
                for m in image.moderation_list
            ],
            "blocked_markets": [
                {
                    "market": b.market.code,
                    "category": b.category,
                    "label": b.label_name,
                    "confidence": _round(b.confidence),
                    "threshold": _round(b.threshold),
                    "reason": block_reason(b, b.market.code),
                }
                for b in sorted(image.block_list, key=lambda b: (b.market.code, b.category))
            ],
            "label_model_version": image.label_model_version,
            "moderation_model_version": image.moderation_model_version,
            "labeller": image.labeller,
            "version": image.version,
            # ISO-8601 UTC with a Z, like every shared item; schema_version as the other tables.
            "updated_at": image.updated_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "schema_version": SCHEMA_VERSION,
        }
    return items


# --- jobs and status -------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelsStatus:
    """Counts for the labelling status page and `manage.py labels status`."""

    images: dict[str, int]
    jobs: dict[str, int]
    labels: dict[str, int]


def labels_status() -> LabelsStatus:
    """Return image, job and label counts by status (three queries)."""

    def counts(qs: QuerySet[Any], field_name: str, choices: Iterable[str]) -> dict[str, int]:
        found = dict(qs.values_list(field_name).annotate(n=Count("id")).order_by())
        return {c: int(found.get(c, 0)) for c in choices}

    return LabelsStatus(
        images=counts(ImageAsset.objects.all(), "status", ImageStatus.values),
        jobs=counts(LabelJob.objects.all(), "state", LabelJobState.values),
        labels=counts(ImageLabel.objects.all(), "status", LabelStatus.values),
    )


def failed_jobs(*, limit: int = 200) -> list[LabelJob]:
    """Return the dead jobs of images that are still failed, newest first, with their errors."""
    return list(
        LabelJob.objects.filter(state=LabelJobState.DEAD, image__status=ImageStatus.FAILED)
        .select_related("image")
        .order_by("-updated_at", "-id")[:limit]
    )


# --- sections, bands and policies for the REST API -------------------------------------------


def _section_image_count() -> Coalesce:
    """Return an expression counting a section's images, as `section_image_ids(...).count()` does.

    A correlated subquery, so a page of sections is counted in the page's own query.
    """
    mapped = SectionMapping.objects.annotate(lower_name=Lower("label_name")).filter(
        section=OuterRef(OuterRef("pk")),
        lower_name=Lower(OuterRef("name")),
        min_confidence__lte=OuterRef("confidence"),
    )
    # A plain Func, not an aggregate, so Django adds no GROUP BY and the subquery yields one row.
    distinct_images = Func(F("image_id"), function="COUNT", template="%(function)s(DISTINCT %(expressions)s)")
    counted = (
        ImageLabel.objects.filter(Exists(mapped), status=LabelStatus.APPROVED)
        .order_by()
        .annotate(n=distinct_images)
        .values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def sections_with_counts() -> QuerySet[Section]:
    """Return sections with `image_count`, their mappings and own bands (two queries a page)."""
    return (
        Section.objects.select_related("bands")
        .prefetch_related("mappings")
        .annotate(image_count=_section_image_count())
        .order_by("name")
    )


def section_with_count(*, section_id: int) -> Section:
    """Return one section as `sections_with_counts` does. Raises Section.DoesNotExist."""
    return sections_with_counts().get(pk=section_id)


def section_mapping_get(*, section: Section, mapping_id: int) -> SectionMapping:
    """Return the mapping `mapping_id` of `section`. Raises SectionMapping.DoesNotExist."""
    return SectionMapping.objects.select_related("section").get(section=section, pk=mapping_id)


@dataclass(frozen=True)
class BandsRead:
    """The bands in force globally or for a section, and whether they are inherited."""

    section_id: int | None
    auto_accept: float
    auto_reject: float
    # True when no bands are stored for this scope: a section falls back to the global bands,
    # the global bands to LABEL_AUTO_ACCEPT / LABEL_AUTO_REJECT.
    inherited: bool
    updated_at: datetime | None


def label_bands_get(*, section: Section | None) -> BandsRead:
    """Return the bands in force for `section` (None: the global bands); at most two queries."""
    section_id = section.pk if section is not None else None
    if section is not None:
        own = LabelBands.objects.filter(section=section).first()
        if own is not None:
            return BandsRead(section_id, own.auto_accept, own.auto_reject, False, own.updated_at)
    glob = LabelBands.objects.filter(section__isnull=True).first()
    if glob is not None:
        return BandsRead(section_id, glob.auto_accept, glob.auto_reject, section is not None, glob.updated_at)
    return BandsRead(
        section_id, float(settings.LABEL_AUTO_ACCEPT), float(settings.LABEL_AUTO_REJECT), True, None
    )


def market_policy_get(*, market: Market, policy_id: int) -> MarketModerationPolicy:
    """Return `market`'s policy `policy_id`. Raises MarketModerationPolicy.DoesNotExist."""
    return MarketModerationPolicy.objects.select_related("market").get(market=market, pk=policy_id)
