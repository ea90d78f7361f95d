"""Confidence bands: where a label is accepted, left for review or rejected without a person."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.access import Action, require
from accounts.models import User
from content.labels.models import (
    ImageLabel,
    LabelBands,
    LabelStatus,
    Section,
    SectionMapping,
)
from content.labels.services.base import _bump_and_publish, _percent
from portal.audit.services import AuditRecord, audit_record


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
