"""Uploads and registrations of images: validated, stored, queued for labelling."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from content.labels.labellers.validation import (
    MAX_BYTES,
    MAX_PIXELS,
    ImageFacts,
    preview,
    thumbnail,
    validate_image,
)
from content.labels.models import (
    ImageAsset,
    ImageStatus,
    LabelJob,
)
from content.labels.services.base import (
    _KEY_RE,
    MAX_FILES_PER_REQUEST,
    MAX_KEYS_PER_REQUEST,
    _bump_and_publish,
    _dispatch_after_commit,
    _require_upload,
)
from content.models import ContentItem
from portal.audit.services import AuditRecord, audit_bulk, audit_record
from portal.shared_tables.models import OutboxKind
from portal.shared_tables.outbox import outbox_enqueue_many

# One request holds every file in memory and decodes each for its renditions (Lambda: ≤ 10 GB,
# 15 min): bound the sum as well as each file.
MAX_REQUEST_BYTES = 60 * 1024 * 1024
MAX_REQUEST_PIXELS = 5 * MAX_PIXELS


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


def _request_total_errors(facts: Sequence[ImageFacts]) -> list[str]:
    """Why the images of one request are too much together (bytes held, pixels to decode), if so."""
    errors = []
    total_bytes = sum(f.byte_size for f in facts)
    total_pixels = sum(f.width * f.height for f in facts)
    if total_bytes > MAX_REQUEST_BYTES:
        errors.append(
            f"These images take {total_bytes / 1024 / 1024:,.0f} MB together; send at most "
            f"{MAX_REQUEST_BYTES // 1024 // 1024} MB per request."
        )
    if total_pixels > MAX_REQUEST_PIXELS:
        errors.append(
            f"These images have {total_pixels:,} pixels together; send at most "
            f"{MAX_REQUEST_PIXELS:,} per request."
        )
    return errors


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
    errors.extend(_request_total_errors([facts for _, _, facts, _ in validated]))
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
    errors.extend(_request_total_errors([facts for _, _, facts, _ in validated]))
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
