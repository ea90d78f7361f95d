"""Writes for images: uploads and S3 registrations, labelling results, reviewers' decisions,
sections, confidence bands and per-market moderation policies.

Each service checks access first, then writes the change, its audit entry and the outbox rows of
every image whose shared item changes, in one transaction. An image's `version` grows whenever
its approved labels, sections, moderation labels or blocked markets change.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts.access import AccessDenied, Action, can, require
from accounts.models import User
from content.image_models import (
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
from content.labelling.base import LabellingResult
from content.labelling.validation import MAX_BYTES, ImageFacts, preview, thumbnail, validate_image
from content.models import ContentItem
from markets.models import Market
from portal.audit import AuditRecord, audit_bulk, audit_record
from portal.models import OutboxKind
from portal.observability import metrics
from portal.outbox import outbox_enqueue_many

MAX_FILES_PER_REQUEST = 50
MAX_KEYS_PER_REQUEST = 50
# AWS advises moderating on taxonomy levels 1–2; level 3 is too specific to block on.
MODERATION_MAX_LEVEL = 2
_KEY_RE = re.compile(r"^[A-Za-z0-9!_.*'()/ =+,@-]+$")


# --- helpers ---------------------------------------------------------------------------------


def _require_upload(actor: User | None) -> None:
    # Reviewers upload by hand; the ingestion pipeline (import content) registers S3 keys.
    if actor is None or can(actor, Action.REVIEW_LABELS) or can(actor, Action.IMPORT_CONTENT):
        return
    raise AccessDenied(Action.REVIEW_LABELS)


def _bump_and_publish(image_ids: Iterable[int]) -> None:
    """Grow the version of each image and queue its shared item (inside the caller's transaction)."""
    ids = sorted(set(image_ids))
    if not ids:
        return
    ImageAsset.objects.filter(pk__in=ids).update(version=F("version") + 1, updated_at=timezone.now())
    outbox_enqueue_many(
        kind=OutboxKind.IMAGE,
        entries=[
            (str(pk), v) for pk, v in ImageAsset.objects.filter(pk__in=ids).values_list("pk", "version")
        ],
    )


def _dispatch_after_commit(image_ids: list[int]) -> None:
    # Imported lazily: jobs pulls in the labeller adapters, which web requests rarely need.
    from content.labelling import jobs

    transaction.on_commit(lambda: jobs.dispatch(image_ids))


def _percent(value: Any, name: str, errors: dict[str, str]) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        errors[name] = "Enter a number between 0 and 100."
        return 0.0
    if not 0.0 <= number <= 100.0:
        errors[name] = "Enter a number between 0 and 100."
    return number


# --- uploads and registrations ---------------------------------------------------------------


@dataclass
class UploadResult:
    """What an upload or registration did: new images, and images already known by checksum."""

    created: list[ImageAsset] = field(default_factory=list)
    existing: list[ImageAsset] = field(default_factory=list)

    @property
    def images(self) -> list[ImageAsset]:
        return [*self.created, *self.existing]


def _store(name: str, data: bytes) -> str:
    # Names derive from the checksum, so a retried upload finds its file instead of copying it.
    if default_storage.exists(name):
        return name
    return default_storage.save(name, ContentFile(data))


def _create_images(
    *,
    actor: User | None,
    validated: Sequence[tuple[str, str, ImageFacts, bytes]],
    item: ContentItem | None,
    via: str,
    action: str,
) -> UploadResult:
    """Write renditions, then images, jobs, audit and outbox rows for (label, key, facts, bytes)."""
    result = UploadResult()
    renditions: dict[str, tuple[str, str]] = {}
    for _, _key, facts, data in validated:
        if facts.checksum in renditions:
            continue
        renditions[facts.checksum] = (
            _store(f"images/thumbs/{facts.checksum}.jpg", thumbnail(data)),
            _store(f"images/previews/{facts.checksum}.jpg", preview(data)),
        )
    with transaction.atomic():
        known = {
            i.checksum: i
            for i in ImageAsset.objects.select_for_update().filter(
                checksum__in=[f.checksum for _, _, f, _ in validated]
            )
        }
        audits: list[AuditRecord] = []
        linked: list[int] = []
        for original, key, facts, _ in validated:
            image = known.get(facts.checksum)
            if image is not None:
                if image not in result.existing and image not in result.created:
                    result.existing.append(image)
                if item is not None and image.item_id is None:
                    image.item = item
                    image.save(update_fields=["item", "updated_at"])
                    linked.append(image.pk)
                continue
            thumb, prev = renditions[facts.checksum]
            image = ImageAsset.objects.create(
                item=item,
                file=key,
                thumbnail=thumb,
                preview=prev,
                original_name=original[:255],
                content_type=facts.content_type,
                byte_size=facts.byte_size,
                width=facts.width,
                height=facts.height,
                checksum=facts.checksum,
                status=ImageStatus.QUEUED,
                uploaded_by=actor,
            )
            known[facts.checksum] = image
            result.created.append(image)
            audits.append(
                AuditRecord(
                    action=action,
                    object_type="image",
                    object_id=str(image.pk),
                    object_repr=image.original_name or key,
                    after={
                        "key": key,
                        "content_type": facts.content_type,
                        "width": facts.width,
                        "height": facts.height,
                        "bytes": facts.byte_size,
                        "content_id": item.upstream_id if item else None,
                    },
                )
            )
        LabelJob.objects.bulk_create(
            [LabelJob(image=i, next_attempt_at=timezone.now()) for i in result.created]
        )
        if audits:
            audit_bulk(actor=actor, records=audits, via=via)
        if result.created:
            outbox_enqueue_many(
                kind=OutboxKind.IMAGE, entries=[(str(i.pk), i.version) for i in result.created]
            )
        _bump_and_publish(linked)
        if result.created:
            _dispatch_after_commit([i.pk for i in result.created])
    return result


def images_upload(
    *,
    actor: User | None,
    files: Sequence[tuple[str, bytes | IO[bytes]]],
    item: ContentItem | None = None,
    via: str = "portal",
) -> UploadResult:
    """Store uploaded (name, content) images and queue them for labelling; all or nothing.

    Raises AccessDenied unless `actor` may review labels or import content; ValidationError
    (field `files`, one message per bad file) when any file is not a JPEG/PNG within limits.
    """
    _require_upload(actor)
    if not files:
        raise ValidationError({"files": "Choose at least one JPEG or PNG file."})
    if len(files) > MAX_FILES_PER_REQUEST:
        raise ValidationError({"files": f"Upload at most {MAX_FILES_PER_REQUEST} files at a time."})
    errors: list[str] = []
    validated: list[tuple[str, str, ImageFacts, bytes]] = []
    for original, content in files:
        label = original or "The file"
        try:
            facts, data = validate_image(content, name=label)
        except ValidationError as exc:
            errors.extend(exc.messages)
            continue
        validated.append(
            (original, f"images/{facts.checksum[:2]}/{facts.checksum}.{facts.extension}", facts, data)
        )
    if errors:
        raise ValidationError({"files": errors})
    stored = [(o, _store(k, d), f, d) for o, k, f, d in validated]
    return _create_images(actor=actor, validated=stored, item=item, via=via, action="image.upload")


def images_register(
    *,
    actor: User | None,
    keys: Sequence[str],
    item: ContentItem | None = None,
    via: str = "api",
) -> UploadResult:
    """Register images that already sit in storage (S3 keys) and queue them; all or nothing.

    Raises AccessDenied as images_upload; ValidationError (field `keys`) for a malformed or
    missing key, or an object that is not a JPEG/PNG within Rekognition's limits.
    """
    _require_upload(actor)
    clean = [k.strip() for k in keys if isinstance(k, str) and k.strip()]
    if not clean:
        raise ValidationError({"keys": "List at least one S3 key."})
    if len(clean) > MAX_KEYS_PER_REQUEST:
        raise ValidationError({"keys": f"Register at most {MAX_KEYS_PER_REQUEST} keys at a time."})
    errors: list[str] = []
    validated: list[tuple[str, str, ImageFacts, bytes]] = []
    for key in dict.fromkeys(clean):
        if len(key) > 500 or ".." in key or key.startswith("/") or not _KEY_RE.match(key):
            errors.append(f"{key[:80]!r} is not a valid S3 key.")
            continue
        if not default_storage.exists(key):
            errors.append(f"{key} does not exist in the images bucket.")
            continue
        if default_storage.size(key) > MAX_BYTES:
            errors.append(f"{key} is larger than 15 MB, the most Rekognition accepts.")
            continue
        with default_storage.open(key, "rb") as handle:
            try:
                facts, data = validate_image(handle, name=key)
            except ValidationError as exc:
                errors.extend(exc.messages)
                continue
        validated.append((key.rsplit("/", 1)[-1], key, facts, data))
    if errors:
        raise ValidationError({"keys": errors})
    return _create_images(actor=actor, validated=validated, item=item, via=via, action="image.register")


def image_link_item(
    *, actor: User | None, image: ImageAsset, item: ContentItem | None, via: str = "portal"
) -> ImageAsset:
    """Link `image` to content `item` (None unlinks). Raises AccessDenied as images_upload."""
    _require_upload(actor)
    with transaction.atomic():
        locked = ImageAsset.objects.select_for_update().get(pk=image.pk)
        if locked.item_id == (item.pk if item else None):
            return locked
        before = {"content_id": locked.item.upstream_id if locked.item else None}
        locked.item = item
        locked.save(update_fields=["item", "updated_at"])
        audit_record(
            actor=actor,
            record=AuditRecord(
                action="image.link",
                object_type="image",
                object_id=str(locked.pk),
                object_repr=str(locked),
                before=before,
                after={"content_id": item.upstream_id if item else None},
            ),
            via=via,
        )
        _bump_and_publish([locked.pk])
        locked.refresh_from_db()
    return locked


# --- bands -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Band:
    """Auto-accept at or above `accept`, auto-reject below `reject`, a person decides between."""

    accept: float
    reject: float

    def decide(self, confidence: float) -> str:
        if confidence >= self.accept:
            return LabelStatus.APPROVED
        if confidence < self.reject:
            return LabelStatus.REJECTED
        return LabelStatus.PENDING


def global_band() -> Band:
    """Return the global band: the stored one, else LABEL_AUTO_ACCEPT / LABEL_AUTO_REJECT."""
    stored = LabelBands.objects.filter(section__isnull=True).first()
    if stored is not None:
        return Band(stored.auto_accept, stored.auto_reject)
    return Band(float(settings.LABEL_AUTO_ACCEPT), float(settings.LABEL_AUTO_REJECT))


def bands_by_label(label_names: Iterable[str]) -> tuple[Band, dict[str, Band]]:
    """Return the global band and, per label mapped to sections with their own band, that band.

    A label mapped to several sections with bands takes the most cautious of them (highest
    accept, lowest reject), so that more of it reaches a person.
    """
    names = set(label_names)
    per_label: dict[str, Band] = {}
    rows = (
        SectionMapping.objects.filter(label_name__in=names, section__bands__isnull=False)
        .values_list("label_name", "section__bands__auto_accept", "section__bands__auto_reject")
        .order_by()
    )
    for name, accept, reject in rows:
        current = per_label.get(name)
        per_label[name] = (
            Band(accept, reject)
            if current is None
            else Band(max(current.accept, accept), min(current.reject, reject))
        )
    return global_band(), per_label


def bands_set(
    *,
    actor: User | None,
    section: Section | None,
    auto_accept: Any,
    auto_reject: Any,
    apply_to_pending: bool = False,
    via: str = "portal",
) -> LabelBands:
    """Set the global bands (section None) or a section's; optionally re-band pending labels.

    Raises AccessDenied unless `actor` may review labels; ValidationError unless
    0 ≤ auto_reject ≤ auto_accept ≤ 100.
    """
    if actor is not None:
        require(actor, Action.REVIEW_LABELS)
    errors: dict[str, str] = {}
    accept = _percent(auto_accept, "auto_accept", errors)
    reject = _percent(auto_reject, "auto_reject", errors)
    if not errors and reject > accept:
        errors["auto_reject"] = "The auto-reject threshold must not be above the auto-accept threshold."
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        bands = LabelBands.objects.select_for_update().filter(section=section).first()
        before = {"auto_accept": bands.auto_accept, "auto_reject": bands.auto_reject} if bands else None
        if bands is None:
            bands = LabelBands(section=section)
        bands.auto_accept, bands.auto_reject = accept, reject
        bands.save()
        audit_record(
            actor=actor,
            record=AuditRecord(
                action="labels.bands",
                object_type="section" if section else "label_bands",
                object_id=str(section.pk) if section else "global",
                object_repr=section.name if section else "Global bands",
                before=before,
                after={"auto_accept": accept, "auto_reject": reject},
            ),
            via=via,
        )
        if apply_to_pending:
            pending = ImageLabel.objects.filter(status=LabelStatus.PENDING)
            if section is not None:
                pending = pending.filter(name__in=section.mappings.values("label_name"))
            _apply_bands(list(pending))
    return bands


def _apply_bands(labels: list[ImageLabel]) -> None:
    """Auto-decide the given pending labels by their bands; bump the images that changed."""
    glob, per_label = bands_by_label({label.name for label in labels})
    now = timezone.now()
    changed: list[ImageLabel] = []
    for label in labels:
        status = per_label.get(label.name, glob).decide(label.confidence)
        if status != LabelStatus.PENDING:
            label.status, label.decided_by, label.decided_at = status, None, now
            changed.append(label)
    ImageLabel.objects.bulk_update(changed, ["status", "decided_by", "decided_at"], batch_size=1000)
    _bump_and_publish(label.image_id for label in changed if label.status == LabelStatus.APPROVED)


# --- labelling results -----------------------------------------------------------------------


def _desired_blocks(
    moderation: Sequence[ModerationLabel], policies: Sequence[MarketModerationPolicy]
) -> dict[tuple[int, str], tuple[str, float, float]]:
    """Return {(market_id, category): (label, confidence, threshold)} for one image's labels."""
    by_category: dict[str, list[ModerationLabel]] = defaultdict(list)
    for label in moderation:
        if label.taxonomy_level is None or label.taxonomy_level <= MODERATION_MAX_LEVEL:
            by_category[label.top_category].append(label)
    blocks: dict[tuple[int, str], tuple[str, float, float]] = {}
    for policy in policies:
        candidates = by_category.get(policy.category)
        if not candidates:
            continue
        # The most confident label decides; at equal confidence the broader (top-level) one names it.
        best = min(candidates, key=lambda m: (-m.confidence, m.taxonomy_level or 1, m.name))
        if best.confidence >= policy.block_at:
            blocks[(policy.market_id, policy.category)] = (best.name, best.confidence, policy.block_at)
    return blocks


def _sync_blocks(image_ids: Sequence[int], market_ids: Sequence[int] | None = None) -> set[int]:
    """Make the stored blocks of `image_ids` (in `market_ids`, or all) match the policies.

    Returns the ids of images whose blocks changed. Four queries whatever the number of images.
    """
    if not image_ids:
        return set()
    policies_qs = MarketModerationPolicy.objects.all()
    blocks_qs = ImageBlock.objects.filter(image_id__in=image_ids)
    if market_ids is not None:
        policies_qs = policies_qs.filter(market_id__in=market_ids)
        blocks_qs = blocks_qs.filter(market_id__in=market_ids)
    policies = list(policies_qs)
    moderation: dict[int, list[ModerationLabel]] = defaultdict(list)
    for found in ModerationLabel.objects.filter(image_id__in=image_ids):
        moderation[found.image_id].append(found)
    existing: dict[tuple[int, int, str], ImageBlock] = {
        (b.image_id, b.market_id, b.category): b for b in blocks_qs
    }
    desired: dict[tuple[int, int, str], tuple[str, float, float]] = {}
    for image_id in image_ids:
        for (market_id, category), reason in _desired_blocks(moderation.get(image_id, []), policies).items():
            desired[(image_id, market_id, category)] = reason
    changed: set[int] = set()
    stale = [b.pk for key, b in existing.items() if key not in desired]
    changed |= {key[0] for key in existing if key not in desired}
    new: list[ImageBlock] = []
    updated: list[ImageBlock] = []
    for key, (label, confidence, threshold) in desired.items():
        block = existing.get(key)
        if block is None:
            new.append(
                ImageBlock(
                    image_id=key[0],
                    market_id=key[1],
                    category=key[2],
                    label_name=label,
                    confidence=confidence,
                    threshold=threshold,
                )
            )
            changed.add(key[0])
        elif (block.label_name, block.confidence, block.threshold) != (label, confidence, threshold):
            block.label_name, block.confidence, block.threshold = label, confidence, threshold
            updated.append(block)
            changed.add(key[0])
    ImageBlock.objects.filter(pk__in=stale).delete()
    ImageBlock.objects.bulk_create(new, batch_size=1000)
    ImageBlock.objects.bulk_update(updated, ["label_name", "confidence", "threshold"], batch_size=1000)
    return changed


def image_labels_store(*, image_id: int, result: LabellingResult) -> ImageAsset:
    """Store a labelling result on an image: labels banded, moderation labels, market blocks.

    A person's earlier decision on a label of the same name is kept when an image is relabelled.
    Raises ImageAsset.DoesNotExist when the image was deleted meanwhile.
    """
    now = timezone.now()
    with transaction.atomic():
        image = ImageAsset.objects.select_for_update().get(pk=image_id)
        human = {
            label.name: label for label in ImageLabel.objects.filter(image=image, decided_by__isnull=False)
        }
        glob, per_label = bands_by_label(label.name for label in result.labels)
        ImageLabel.objects.filter(image=image).delete()
        ModerationLabel.objects.filter(image=image).delete()
        labels: list[ImageLabel] = []
        for detected in {d.name: d for d in result.labels}.values():
            kept = human.get(detected.name)
            if kept is not None:
                status, decided_by_id, decided_at = kept.status, kept.decided_by_id, kept.decided_at
            else:
                status = per_label.get(detected.name, glob).decide(detected.confidence)
                decided_by_id, decided_at = None, (None if status == LabelStatus.PENDING else now)
            labels.append(
                ImageLabel(
                    image=image,
                    name=detected.name[:200],
                    confidence=detected.confidence,
                    parents=list(detected.parents),
                    categories=list(detected.categories),
                    aliases=list(detected.aliases),
                    instances=[
                        {"confidence": inst.confidence, "box": inst.box.as_dict()}
                        for inst in detected.instances
                    ],
                    model_version=result.label_model_version,
                    status=status,
                    decided_by_id=decided_by_id,
                    decided_at=decided_at,
                )
            )
        ImageLabel.objects.bulk_create(labels)
        ModerationLabel.objects.bulk_create(
            ModerationLabel(
                image=image,
                name=m.name[:200],
                parent_name=m.parent_name[:200],
                top_category=m.top_category[:200],
                taxonomy_level=m.taxonomy_level,
                confidence=m.confidence,
                model_version=result.moderation_model_version,
            )
            for m in {m.name: m for m in result.moderation}.values()
        )
        _sync_blocks([image.pk])
        image.status = ImageStatus.LABELLED
        image.labeller = result.backend
        image.label_model_version = result.label_model_version
        image.moderation_model_version = result.moderation_model_version
        image.labelled_at = now
        image.version += 1
        image.save()
        counts: dict[str, int] = defaultdict(int)
        for label in labels:
            counts[label.status] += 1
        audit_record(
            actor=None,
            record=AuditRecord(
                action="image.labelled",
                object_type="image",
                object_id=str(image.pk),
                object_repr=str(image),
                after={
                    "backend": result.backend,
                    "label_model_version": result.label_model_version,
                    "moderation_model_version": result.moderation_model_version,
                    "labels": dict(counts),
                    "moderation_labels": len(result.moderation),
                },
            ),
            via="system",
        )
        outbox_enqueue_many(kind=OutboxKind.IMAGE, entries=[(str(image.pk), image.version)])
    return image


def image_labelling_failed(*, image_id: int, error: str) -> None:
    """Mark an image as failed (its job is dead) and record why. Never raises for a deleted image."""
    metrics.count("LabellingFailures")
    with transaction.atomic():
        updated = ImageAsset.objects.filter(pk=image_id).update(
            status=ImageStatus.FAILED, updated_at=timezone.now()
        )
        if updated:
            audit_record(
                actor=None,
                record=AuditRecord(
                    action="image.label_failed",
                    object_type="image",
                    object_id=str(image_id),
                    after={"error": error[:2000]},
                ),
                via="system",
            )


def label_job_retry(*, actor: User | None, image: ImageAsset, via: str = "portal") -> LabelJob:
    """Queue `image` for labelling again now, with a fresh attempt budget.

    Raises AccessDenied unless `actor` may review labels; ValidationError when a job for the
    image is already queued or running.
    """
    if actor is not None:
        require(actor, Action.REVIEW_LABELS)
    with transaction.atomic():
        locked = ImageAsset.objects.select_for_update().get(pk=image.pk)
        if LabelJob.objects.filter(
            image=locked, state__in=[LabelJobState.QUEUED, LabelJobState.RUNNING]
        ).exists():
            raise ValidationError({"image": "This image is already queued for labelling."})
        job = LabelJob.objects.create(image=locked, next_attempt_at=timezone.now())
        locked.status = ImageStatus.QUEUED
        locked.save(update_fields=["status", "updated_at"])
        audit_record(
            actor=actor,
            record=AuditRecord(
                action="image.retry", object_type="image", object_id=str(locked.pk), object_repr=str(locked)
            ),
            via=via,
        )
        _dispatch_after_commit([locked.pk])
    return job


# --- reviewers' decisions --------------------------------------------------------------------


@dataclass
class DecisionResult:
    """How many labels a decision changed, and which images it touched."""

    changed: int = 0
    unchanged: int = 0
    image_ids: list[int] = field(default_factory=list)


def labels_decide(
    *, actor: User | None, label_ids: Sequence[int], status: str, via: str = "portal"
) -> DecisionResult:
    """Approve or reject labels by id (any mix of images), as one atomic change.

    Raises AccessDenied unless `actor` may review labels; ValidationError on a status other than
    approved/rejected, no labels, or ids that do not exist.
    """
    if actor is not None:
        require(actor, Action.REVIEW_LABELS)
    if status not in (LabelStatus.APPROVED, LabelStatus.REJECTED):
        raise ValidationError({"status": "Choose approved or rejected."})
    ids = sorted({int(i) for i in label_ids})
    if not ids:
        raise ValidationError({"label_ids": "Select at least one label."})
    result = DecisionResult()
    now = timezone.now()
    with transaction.atomic():
        image_ids = sorted(set(ImageLabel.objects.filter(pk__in=ids).values_list("image_id", flat=True)))
        # Lock the images first (in pk order) so concurrent reviewers serialise per image.
        list(ImageAsset.objects.select_for_update().filter(pk__in=image_ids).order_by("pk").values_list("pk"))
        labels = list(ImageLabel.objects.filter(pk__in=ids).select_related("image"))
        missing = set(ids) - {label.pk for label in labels}
        if missing:
            raise ValidationError(
                {"label_ids": f"Unknown label id(s): {', '.join(map(str, sorted(missing)))}."}
            )
        changed: list[ImageLabel] = []
        audits: list[AuditRecord] = []
        for label in labels:
            if label.status == status and label.decided_by_id == (actor.pk if actor else None):
                result.unchanged += 1
                continue
            before = {"status": label.status, "decided_by": label.decided_by_id}
            label.status, label.decided_by, label.decided_at = status, actor, now
            changed.append(label)
            audits.append(
                AuditRecord(
                    action=f"label.{'approve' if status == LabelStatus.APPROVED else 'reject'}",
                    object_type="image_label",
                    object_id=str(label.pk),
                    object_repr=f"{label.name} on {label.image}"[:300],
                    before=before,
                    after={"status": status, "confidence": label.confidence, "image": label.image_id},
                )
            )
        ImageLabel.objects.bulk_update(changed, ["status", "decided_by", "decided_at"], batch_size=1000)
        if audits:
            audit_bulk(actor=actor, records=audits, via=via)
        result.changed = len(changed)
        result.image_ids = sorted({label.image_id for label in changed})
        _bump_and_publish(result.image_ids)
    return result


def labels_approve_at_least(
    *, actor: User | None, image: ImageAsset, min_confidence: Any, via: str = "portal"
) -> DecisionResult:
    """Approve every pending label of `image` at or above `min_confidence`.

    Raises AccessDenied unless `actor` may review labels; ValidationError on a bad threshold.
    """
    if actor is not None:
        require(actor, Action.REVIEW_LABELS)
    errors: dict[str, str] = {}
    threshold = _percent(min_confidence, "min_confidence", errors)
    if errors:
        raise ValidationError(errors)
    ids = list(
        ImageLabel.objects.filter(
            image=image, status=LabelStatus.PENDING, confidence__gte=threshold
        ).values_list("pk", flat=True)
    )
    if not ids:
        return DecisionResult()
    return labels_decide(actor=actor, label_ids=ids, status=LabelStatus.APPROVED, via=via)


def images_decide_pending(
    *, actor: User | None, image_ids: Sequence[int], status: str, via: str = "portal"
) -> DecisionResult:
    """Approve or reject every pending label of the selected images, atomically.

    Raises AccessDenied unless `actor` may review labels; ValidationError on a bad status or an
    empty selection.
    """
    if actor is not None:
        require(actor, Action.REVIEW_LABELS)
    if not image_ids:
        raise ValidationError({"image_ids": "Select at least one image."})
    ids = list(
        ImageLabel.objects.filter(image_id__in=list(image_ids), status=LabelStatus.PENDING).values_list(
            "pk", flat=True
        )
    )
    if not ids:
        if status not in (LabelStatus.APPROVED, LabelStatus.REJECTED):
            raise ValidationError({"status": "Choose approved or rejected."})
        return DecisionResult()
    return labels_decide(actor=actor, label_ids=ids, status=status, via=via)


# --- sections --------------------------------------------------------------------------------


def _section_members(section: Section) -> set[int]:
    from content.image_selectors import section_image_ids

    # section_get prefetches `mappings`; that cache would hide a change just made, so that images
    # joining or leaving would never get their new version.
    getattr(section, "_prefetched_objects_cache", {}).pop("mappings", None)
    return set(section_image_ids(section=section))


def _section_name(name: str, *, other_than: Section | None = None) -> str:
    """Return `name` trimmed; raise ValidationError (field `name`) when empty, long or taken."""
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Give the section a name, e.g. Polar."})
    if len(name) > 120:
        raise ValidationError({"name": "Keep the name under 120 characters."})
    taken = Section.objects.filter(name__iexact=name)
    if other_than is not None:
        taken = taken.exclude(pk=other_than.pk)
    if taken.exists():
        raise ValidationError({"name": f"A section named {name} already exists."})
    return name


def section_create(*, actor: User | None, name: str, via: str = "portal") -> Section:
    """Create an app section. Raises AccessDenied; ValidationError on an empty or taken name."""
    if actor is not None:
        require(actor, Action.REVIEW_LABELS)
    name = _section_name(name)
    try:
        with transaction.atomic():
            section = Section.objects.create(name=name)
            audit_record(
                actor=actor,
                record=AuditRecord(
                    action="section.create",
                    object_type="section",
                    object_id=str(section.pk),
                    object_repr=name,
                ),
                via=via,
            )
    except IntegrityError:
        # Two requests took the name at once: the unique constraint decided, a 400 not a 500.
        raise ValidationError({"name": f"A section named {name} already exists."}) from None
    return section


def section_rename(*, actor: User | None, section: Section, name: str, via: str = "portal") -> Section:
    """Rename `section`; its images get a new version, since their shared item names it.

    Raises AccessDenied unless `actor` may review labels; ValidationError on an empty, long or
    taken name.
    """
    if actor is not None:
        require(actor, Action.REVIEW_LABELS)
    name = _section_name(name, other_than=section)
    with transaction.atomic():
        locked = Section.objects.select_for_update().get(pk=section.pk)
        if locked.name == name:
            return locked
        before = locked.name
        locked.name = name
        try:
            with transaction.atomic():
                locked.save(update_fields=["name"])
        except IntegrityError:
            # Another request took the name meanwhile: the unique constraint decided.
            raise ValidationError({"name": f"A section named {name} already exists."}) from None
        audit_record(
            actor=actor,
            record=AuditRecord(
                action="section.rename",
                object_type="section",
                object_id=str(locked.pk),
                object_repr=name,
                before={"name": before},
                after={"name": name},
            ),
            via=via,
        )
        _bump_and_publish(_section_members(locked))
    return locked


def section_delete(*, actor: User | None, section: Section, via: str = "portal") -> None:
    """Delete `section` with its mappings and bands; its images get a new version.

    Raises AccessDenied unless `actor` may review labels.
    """
    if actor is not None:
        require(actor, Action.REVIEW_LABELS)
    with transaction.atomic():
        locked = Section.objects.select_for_update().get(pk=section.pk)
        members = _section_members(locked)
        name = locked.name
        bands = LabelBands.objects.filter(section=locked).first()
        before = {
            "name": name,
            "mappings": {m.label_name: m.min_confidence for m in locked.mappings.all()},
            "bands": {"auto_accept": bands.auto_accept, "auto_reject": bands.auto_reject} if bands else None,
        }
        section_id = locked.pk
        locked.delete()
        audit_record(
            actor=actor,
            record=AuditRecord(
                action="section.delete",
                object_type="section",
                object_id=str(section_id),
                object_repr=name,
                before=before,
                after={"left": len(members)},
            ),
            via=via,
        )
        _bump_and_publish(members)


def section_mapping_add(
    *,
    actor: User | None,
    section: Section,
    label_name: str,
    min_confidence: Any,
    via: str = "portal",
) -> SectionMapping:
    """Map a label that `section` does not map yet (section_mapping_set changes existing ones).

    Raises AccessDenied unless `actor` may review labels; ValidationError when the label is
    already mapped to the section, or as section_mapping_set.
    """
    if actor is not None:
        require(actor, Action.REVIEW_LABELS)
    with transaction.atomic():
        # The section's row lock serialises two adds of the same label.
        Section.objects.select_for_update().filter(pk=section.pk).first()
        existing = SectionMapping.objects.filter(
            section=section, label_name__iexact=(label_name or "").strip()
        ).first()
        if existing is not None:
            raise ValidationError(
                {
                    "label_name": f"{existing.label_name} already maps to {section.name} "
                    f"at {existing.min_confidence:g}; change its threshold instead."
                }
            )
        return section_mapping_set(
            actor=actor, section=section, label_name=label_name, min_confidence=min_confidence, via=via
        )


def section_mapping_set(
    *,
    actor: User | None,
    section: Section,
    label_name: str,
    min_confidence: Any,
    via: str = "portal",
) -> SectionMapping:
    """Map label `label_name` at `min_confidence` or more to `section` (create or change).

    Images that join or leave the section get a new version. Raises AccessDenied unless `actor`
    may review labels; ValidationError on an empty label name or a threshold outside 0–100.
    """
    if actor is not None:
        require(actor, Action.REVIEW_LABELS)
    errors: dict[str, str] = {}
    label_name = (label_name or "").strip()
    if not label_name:
        errors["label_name"] = "Name the label, e.g. Glacier."
    elif len(label_name) > 200:
        errors["label_name"] = "Keep the label name under 200 characters."
    threshold = _percent(min_confidence, "min_confidence", errors)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        Section.objects.select_for_update().filter(pk=section.pk).first()
        before_members = _section_members(section)
        mapping = SectionMapping.objects.filter(section=section, label_name__iexact=label_name).first()
        before = {"min_confidence": mapping.min_confidence} if mapping else None
        if mapping is None:
            mapping = SectionMapping(section=section, label_name=label_name)
        mapping.min_confidence = threshold
        mapping.save()
        after_members = _section_members(section)
        audit_record(
            actor=actor,
            record=AuditRecord(
                action="section.mapping",
                object_type="section",
                object_id=str(section.pk),
                object_repr=f"{section.name}: {mapping.label_name}",
                before=before,
                after={
                    "label": mapping.label_name,
                    "min_confidence": threshold,
                    "joined": len(after_members - before_members),
                    "left": len(before_members - after_members),
                },
            ),
            via=via,
        )
        _bump_and_publish(before_members ^ after_members)
    return mapping


def section_mapping_delete(*, actor: User | None, mapping: SectionMapping, via: str = "portal") -> None:
    """Remove a label from a section; images that leave get a new version. Raises AccessDenied."""
    if actor is not None:
        require(actor, Action.REVIEW_LABELS)
    section = mapping.section
    with transaction.atomic():
        before_members = _section_members(section)
        label, threshold = mapping.label_name, mapping.min_confidence
        mapping.delete()
        after_members = _section_members(section)
        audit_record(
            actor=actor,
            record=AuditRecord(
                action="section.mapping_delete",
                object_type="section",
                object_id=str(section.pk),
                object_repr=f"{section.name}: {label}",
                before={"label": label, "min_confidence": threshold},
                after={"left": len(before_members - after_members)},
            ),
            via=via,
        )
        _bump_and_publish(before_members ^ after_members)


# --- moderation policies ---------------------------------------------------------------------


def _images_with_category(category: str) -> list[int]:
    return sorted(
        set(ModerationLabel.objects.filter(top_category=category).values_list("image_id", flat=True))
    )


def moderation_policy_set(
    *,
    actor: User | None,
    market: Market,
    category: str,
    block_at: Any,
    via: str = "portal",
) -> MarketModerationPolicy:
    """Block images in `market` whose top-level `category` label reaches `block_at` percent.

    Images blocked or unblocked by the change get a new version. Raises AccessDenied unless
    `actor` may edit `market`'s settings; ValidationError on an empty category or a threshold
    outside 0–100.
    """
    if actor is not None:
        require(actor, Action.EDIT_MARKET_SETTINGS, market)
    errors: dict[str, str] = {}
    category = (category or "").strip()
    if not category:
        errors["category"] = "Name a top-level moderation category, e.g. Violence."
    elif len(category) > 200:
        errors["category"] = "Keep the category under 200 characters."
    threshold = _percent(block_at, "block_at", errors)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        Market.objects.select_for_update().filter(pk=market.pk).first()
        policy = MarketModerationPolicy.objects.filter(market=market, category__iexact=category).first()
        before = {"category": policy.category, "block_at": policy.block_at} if policy else None
        if policy is None:
            policy = MarketModerationPolicy(market=market, category=category)
        policy.block_at = threshold
        policy.save()
        changed = _sync_blocks(_images_with_category(policy.category), [market.pk])
        audit_record(
            actor=actor,
            record=AuditRecord(
                action="moderation.policy",
                object_type="market",
                object_id=market.code,
                object_repr=f"{market.code}: {policy.category}",
                market_code=market.code,
                before=before,
                after={"category": policy.category, "block_at": threshold, "images_changed": len(changed)},
            ),
            via=via,
        )
        _bump_and_publish(changed)
    return policy


def moderation_policy_add(
    *,
    actor: User | None,
    market: Market,
    category: str,
    block_at: Any,
    via: str = "portal",
) -> MarketModerationPolicy:
    """Add a policy for a category `market` does not moderate yet (moderation_policy_set changes one).

    Raises AccessDenied unless `actor` may edit `market`'s settings; ValidationError when the
    market already has a policy for the category, or as moderation_policy_set.
    """
    if actor is not None:
        require(actor, Action.EDIT_MARKET_SETTINGS, market)
    with transaction.atomic():
        # The market's row lock serialises two adds of the same category.
        Market.objects.select_for_update().filter(pk=market.pk).first()
        existing = MarketModerationPolicy.objects.filter(
            market=market, category__iexact=(category or "").strip()
        ).first()
        if existing is not None:
            raise ValidationError(
                {
                    "category": f"{market.code} already blocks {existing.category} at "
                    f"{existing.block_at:g}; change its threshold instead."
                }
            )
        return moderation_policy_set(
            actor=actor, market=market, category=category, block_at=block_at, via=via
        )


def moderation_policy_delete(
    *, actor: User | None, policy: MarketModerationPolicy, via: str = "portal"
) -> None:
    """Stop blocking `policy`'s category in its market; unblocked images get a new version.

    Raises AccessDenied unless `actor` may edit that market's settings.
    """
    market = policy.market
    if actor is not None:
        require(actor, Action.EDIT_MARKET_SETTINGS, market)
    with transaction.atomic():
        category, threshold = policy.category, policy.block_at
        policy.delete()
        changed = _sync_blocks(_images_with_category(category), [market.pk])
        audit_record(
            actor=actor,
            record=AuditRecord(
                action="moderation.policy_delete",
                object_type="market",
                object_id=market.code,
                object_repr=f"{market.code}: {category}",
                market_code=market.code,
                before={"category": category, "block_at": threshold},
                after={"images_changed": len(changed)},
            ),
            via=via,
        )
        _bump_and_publish(changed)
