"""Reviewers' decisions on labels: approve, reject, in bulk, audited."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.access import Action, require
from accounts.models import User
from content.labels.models import (
    ImageAsset,
    ImageLabel,
    LabelStatus,
)
from content.labels.services.base import _bump_and_publish, _percent
from portal.audit.services import AuditRecord, audit_bulk


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
