"""App sections and the labels that map images into them, with thresholds."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.access import Action, require
from accounts.models import User
from content.labels.models import (
    LabelBands,
    Section,
    SectionMapping,
)
from content.labels.services.base import _bump_and_publish, _percent
from portal.audit.services import AuditRecord, audit_record


def _section_members(section: Section) -> set[int]:
    from content.labels.selectors import section_image_ids

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
