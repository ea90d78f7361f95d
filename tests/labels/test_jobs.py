"""The DB-backed labelling queue: claims, backoff, dead state, retries, sweep and the command."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from content.labels import jobs
from content.labels.labellers.base import ImageRef, LabellerError, LabellingResult
from content.labels.labellers.fake import FakeLabeller
from content.labels.models import ImageStatus, LabelJob, LabelJobState
from portal import tasks


class Failing:
    name = "failing"

    def __init__(self, final: bool) -> None:
        self.final = final
        self.calls = 0

    def label(self, image: ImageRef) -> LabellingResult:
        self.calls += 1
        raise LabellerError("Slow down", code="ThrottlingException", final=self.final)


def test_backoff_doubles_and_is_capped() -> None:
    assert [jobs.backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert jobs.backoff(30) == jobs.BACKOFF_CAP


def test_upload_queues_a_job_and_processing_labels_the_image(new_image: Any) -> None:
    # given an uploaded image
    image = new_image()
    assert image.status == ImageStatus.QUEUED
    assert LabelJob.objects.get(image=image).state == LabelJobState.QUEUED
    # when the queue is drained with the fake labeller
    summary = jobs.process(labeller=FakeLabeller())
    # then the image is labelled, its job done
    image.refresh_from_db()
    assert summary.done == 1
    assert image.status == ImageStatus.LABELLED
    assert image.labels.exists()
    assert image.label_model_version == "fake-1"
    assert LabelJob.objects.get(image=image).state == LabelJobState.DONE


def test_a_transient_error_waits_with_backoff_then_dies_after_max_attempts(new_image: Any) -> None:
    # given an image whose labelling keeps being throttled
    image = new_image()
    labeller = Failing(final=False)
    now = timezone.now()
    # when the queue is drained: the job goes back to the queue, not due before its backoff
    first = jobs.process(labeller=labeller, now=now)
    job = LabelJob.objects.get(image=image)
    assert (first.retried, job.state, job.attempts) == (1, LabelJobState.QUEUED, 1)
    assert job.next_attempt_at == now + timedelta(seconds=30)
    assert "ThrottlingException" in job.last_error
    assert jobs.process(labeller=labeller, now=now).claimed == 0
    # and drained again each time it is due, until the attempts run out
    for _ in range(job.max_attempts - 1):
        now += timedelta(hours=2)
        jobs.process(labeller=labeller, now=now)
    job.refresh_from_db()
    image.refresh_from_db()
    # then it is dead with its error visible, and the image failed
    assert job.state == LabelJobState.DEAD
    assert job.attempts == job.max_attempts
    assert "gave up after 5 attempts" in job.last_error
    assert image.status == ImageStatus.FAILED
    assert labeller.calls == job.max_attempts


def test_a_final_error_dies_at_once(new_image: Any) -> None:
    image = new_image()
    summary = jobs.process(labeller=Failing(final=True))
    job = LabelJob.objects.get(image=image)
    assert (summary.dead, job.state, job.attempts) == (1, LabelJobState.DEAD, 1)


def test_a_claimed_job_is_not_claimed_twice(new_image: Any) -> None:
    new_image()
    assert len(jobs.claim(limit=10)) == 1
    assert jobs.claim(limit=10) == []


def test_stale_running_jobs_are_requeued_by_the_sweep(new_image: Any) -> None:
    # given a job whose worker vanished twenty minutes ago
    image = new_image()
    (job,) = jobs.claim(limit=1)
    LabelJob.objects.filter(pk=job.pk).update(locked_at=timezone.now() - timedelta(minutes=20))
    # when the scheduled sweep runs
    outcome = jobs.sweep()
    # then the job was handed out again and finished
    assert outcome["stale_requeued"] == 1
    assert outcome["done"] == 1
    image.refresh_from_db()
    assert image.status == ImageStatus.LABELLED


def test_retry_dead_gives_a_fresh_attempt_budget(new_image: Any) -> None:
    image = new_image()
    jobs.process(labeller=Failing(final=True))
    assert jobs.retry_dead() == 1
    job = LabelJob.objects.get(image=image)
    image.refresh_from_db()
    assert (job.state, job.attempts, image.status) == (LabelJobState.QUEUED, 0, ImageStatus.QUEUED)


def test_dispatch_does_nothing_outside_lambda(new_image: Any, settings: Any) -> None:
    # Labelling never runs in a web request: locally, dispatch leaves the job queued.
    settings.ON_LAMBDA = False
    image = new_image()
    tasks.dispatch("labels.label_images", image_ids=[image.pk])
    assert LabelJob.objects.get(image=image).state == LabelJobState.QUEUED


def test_dispatch_on_lambda_invokes_the_async_task(
    new_image: Any, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    calls: list[tuple[Any, dict[str, Any]]] = []
    settings.ON_LAMBDA = True
    monkeypatch.setattr("zappa.asynchronous.run", lambda func, args, kwargs: calls.append((func, kwargs)))
    tasks.dispatch("labels.label_images", image_ids=[7, 8])
    assert calls == [(jobs.process_images, {"image_ids": [7, 8]})]


def test_the_async_task_labels_only_its_images(new_image: Any) -> None:
    mine, other = new_image(), new_image()
    assert jobs.process_images([mine.pk]) == {"done": 1, "retried": 0, "dead": 0}
    other.refresh_from_db()
    assert other.status == ImageStatus.QUEUED


def test_labels_command_process_status_and_retry(new_image: Any) -> None:
    new_image()
    out = StringIO()
    call_command("labels", "process", "--backend", "fake", stdout=out)
    assert "Labelled 1 image(s)" in out.getvalue()
    out = StringIO()
    call_command("labels", "status", stdout=out)
    assert "images: queued 0, labelled 1, failed 0" in out.getvalue()
    out = StringIO()
    call_command("labels", "retry", stdout=out)
    assert "Queued 0 dead job(s) again." in out.getvalue()
