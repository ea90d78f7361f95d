"""The labelling job queue: a table of jobs, claimed safely, retried with backoff, then dead.

Labelling never runs in a web request. Jobs are drained by:
- `manage.py labels process` locally (and by `make run` through the demo data);
- on Lambda, a Zappa async invocation right after an upload commits (`dispatch`), and the
  scheduled `sweep()` that picks up whatever the async call missed (Lambda retries async calls
  twice, so processing is idempotent: a job is claimed once, and results replace earlier ones).

Claiming locks rows with `select_for_update(skip_locked=True)` on PostgreSQL so concurrent
workers never take the same job; SQLite serialises writers itself (IMMEDIATE transactions).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from content.labels.labellers.base import ImageRef, Labeller, LabellerError
from content.labels.models import ImageAsset, ImageStatus, LabelJob, LabelJobState
from content.labels.services import image_labelling_failed, image_labels_store
from portal.backoff import backoff_delay
from portal.observability.logging import job_run

logger = logging.getLogger(__name__)

BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(hours=1)
# A running job whose worker vanished (Lambda timeout) is handed out again after this long.
STALE_AFTER = timedelta(minutes=15)


def backoff(attempts: int) -> timedelta:
    """Return the wait before the next attempt after `attempts` failed ones (30 s, 1 min, 2 min …)."""
    # No jitter: the images page shows when a job is next due, and jobs fail one at a time (a
    # worker drains them in sequence), so they do not come due in a herd.
    seconds = backoff_delay(
        attempts, base=BACKOFF_BASE.total_seconds(), cap=BACKOFF_CAP.total_seconds(), jitter="none"
    )
    return timedelta(seconds=seconds)


@dataclass
class RunSummary:
    """What one drain did."""

    done: int = 0
    retried: int = 0
    dead: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def claimed(self) -> int:
        return self.done + self.retried + self.dead


def image_ref(image: ImageAsset) -> ImageRef:
    """Return the labeller's reference to an image: IMAGES_BUCKET and the storage key."""
    return ImageRef(bucket=settings.IMAGES_BUCKET, key=image.file.name, checksum=image.checksum)


def claim(
    *, limit: int, now: datetime | None = None, image_ids: Sequence[int] | None = None
) -> list[LabelJob]:
    """Mark up to `limit` due queued jobs as running (one more attempt each) and return them."""
    now = now or timezone.now()
    with transaction.atomic():
        qs = LabelJob.objects.filter(state=LabelJobState.QUEUED, next_attempt_at__lte=now)
        if image_ids is not None:
            qs = qs.filter(image_id__in=list(image_ids))
        if connection.features.has_select_for_update_skip_locked:
            qs = qs.select_for_update(skip_locked=True)
        jobs = list(qs.order_by("next_attempt_at", "id")[:limit])
        for job in jobs:
            job.state = LabelJobState.RUNNING
            job.attempts += 1
            job.locked_at = now
        LabelJob.objects.bulk_update(jobs, ["state", "attempts", "locked_at", "updated_at"])
    return jobs


def requeue_stale(*, now: datetime | None = None) -> int:
    """Put running jobs whose worker vanished back in the queue; return how many."""
    now = now or timezone.now()
    return LabelJob.objects.filter(state=LabelJobState.RUNNING, locked_at__lt=now - STALE_AFTER).update(
        state=LabelJobState.QUEUED, next_attempt_at=now, locked_at=None, updated_at=now
    )


def _finish(
    job: LabelJob, state: str, *, now: datetime, error: str = "", next_at: datetime | None = None
) -> None:
    job.state = state
    job.locked_at = None
    job.last_error = error[:4000]
    job.next_attempt_at = next_at
    job.finished_at = now if state in (LabelJobState.DONE, LabelJobState.DEAD) else None
    job.save(
        update_fields=["state", "locked_at", "last_error", "next_attempt_at", "finished_at", "updated_at"]
    )


def run_job(job: LabelJob, labeller: Labeller, *, now: datetime | None = None) -> str:
    """Label the job's image and record the outcome; return the job's new state.

    Final labeller errors (bad S3 object, bad format) kill the job at once; other errors wait
    with exponential backoff until the attempts run out.
    """
    now = now or timezone.now()
    try:
        image = ImageAsset.objects.get(pk=job.image_id)
        result = labeller.label(image_ref(image))
        image_labels_store(image_id=image.pk, result=result)
    except ImageAsset.DoesNotExist:
        _finish(job, LabelJobState.DEAD, now=now, error="The image was deleted.")
        return LabelJobState.DEAD
    except LabellerError as exc:
        if exc.final or job.attempts >= job.max_attempts:
            reason = "" if exc.final else f" (gave up after {job.attempts} attempts)"
            _finish(job, LabelJobState.DEAD, now=now, error=f"{exc}{reason}")
            image_labelling_failed(image_id=job.image_id, error=str(exc))
            return LabelJobState.DEAD
        _finish(job, LabelJobState.QUEUED, now=now, error=str(exc), next_at=now + backoff(job.attempts))
        return LabelJobState.QUEUED
    except Exception as exc:  # an unexpected failure must land somewhere visible, not vanish
        logger.exception("Labelling job %s failed unexpectedly", job.pk)
        message = f"{type(exc).__name__}: {exc}"
        if job.attempts >= job.max_attempts:
            _finish(job, LabelJobState.DEAD, now=now, error=message)
            image_labelling_failed(image_id=job.image_id, error=message)
            return LabelJobState.DEAD
        _finish(job, LabelJobState.QUEUED, now=now, error=message, next_at=now + backoff(job.attempts))
        return LabelJobState.QUEUED
    _finish(job, LabelJobState.DONE, now=now)
    return LabelJobState.DONE


def process(
    *,
    limit: int = 1000,
    batch: int = 10,
    labeller: Labeller | None = None,
    image_ids: Sequence[int] | None = None,
    now: datetime | None = None,
) -> RunSummary:
    """Drain due jobs (of `image_ids`, or all) in batches until none is due or `limit` is reached."""
    from content.labels.labellers import get_labeller

    labeller = labeller or get_labeller()
    summary = RunSummary()
    while summary.claimed < limit:
        jobs = claim(limit=min(batch, limit - summary.claimed), now=now, image_ids=image_ids)
        if not jobs:
            break
        for job in jobs:
            with job_run("labelling", attempt=job.attempts, image_id=job.image_id) as run:
                state = run["outcome"] = run_job(job, labeller, now=now)
            if state == LabelJobState.DONE:
                summary.done += 1
            elif state == LabelJobState.DEAD:
                summary.dead += 1
                summary.errors.append(f"image {job.image_id}: {job.last_error}")
            else:
                summary.retried += 1
    return summary


def retry_dead(*, image_ids: Sequence[int] | None = None) -> int:
    """Queue dead jobs again with a fresh attempt budget (the command's `retry`); return how many."""
    now = timezone.now()
    with transaction.atomic():
        qs = LabelJob.objects.filter(state=LabelJobState.DEAD)
        if image_ids is not None:
            qs = qs.filter(image_id__in=list(image_ids))
        ids = list(qs.values_list("image_id", flat=True))
        count = qs.update(state=LabelJobState.QUEUED, attempts=0, next_attempt_at=now, updated_at=now)
        ImageAsset.objects.filter(pk__in=ids, status=ImageStatus.FAILED).update(status=ImageStatus.QUEUED)
    return count


def process_images(image_ids: list[int]) -> dict[str, int]:
    """Zappa async task: label the given images' due jobs. Idempotent (claimed jobs are skipped)."""
    summary = process(image_ids=[int(i) for i in image_ids], limit=len(image_ids) * 2 or 1)
    return {"done": summary.done, "retried": summary.retried, "dead": summary.dead}


def sweep() -> dict[str, int]:
    """Scheduled on Lambda: requeue stale jobs, then label a bounded batch of due ones."""
    stale = requeue_stale()
    summary = process(limit=int(settings.LABEL_SWEEP_LIMIT))
    return {"stale_requeued": stale, "done": summary.done, "retried": summary.retried, "dead": summary.dead}
