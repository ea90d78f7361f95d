"""Labelling results: what the labeller returned, stored, banded and moderated."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.access import Action, require
from accounts.models import User
from content.labels.labellers.base import LabellingResult
from content.labels.models import (
    ImageAsset,
    ImageBlock,
    ImageLabel,
    ImageStatus,
    LabelJob,
    LabelJobState,
    LabelStatus,
    MarketModerationPolicy,
    ModerationLabel,
)
from content.labels.services.bands import bands_by_label
from content.labels.services.base import MODERATION_MAX_LEVEL, _dispatch_after_commit
from portal.audit.services import AuditRecord, audit_record
from portal.observability import metrics
from portal.shared_tables.models import OutboxKind
from portal.shared_tables.outbox import outbox_enqueue_many


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
