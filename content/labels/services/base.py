"""What every label service shares: the access check, the outbox hand-off and number parsing."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.access import AccessDenied, Action, can
from accounts.models import User
from content.labels.models import (
    ImageAsset,
)
from portal import tasks
from portal.shared_tables.models import OutboxKind
from portal.shared_tables.outbox import outbox_enqueue_many

MAX_FILES_PER_REQUEST = 50
MAX_KEYS_PER_REQUEST = 50
# AWS advises moderating on taxonomy levels 1–2; level 3 is too specific to block on.
MODERATION_MAX_LEVEL = 2
_KEY_RE = re.compile(r"^[A-Za-z0-9!_.*'()/ =+,@-]+$")


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
    # By name: the jobs module imports these services, so they must not import it back.
    transaction.on_commit(lambda: tasks.dispatch("labels.label_images", image_ids=list(image_ids)))


def _percent(value: Any, name: str, errors: dict[str, str]) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        errors[name] = "Enter a number between 0 and 100."
        return 0.0
    if not 0.0 <= number <= 100.0:
        errors[name] = "Enter a number between 0 and 100."
    return number
