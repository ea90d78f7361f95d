"""`manage.py labels process|sweep|retry|status`: drain the labelling queue, retry, report."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from content.labels import jobs
from content.labels.labellers import get_labeller
from content.labels.selectors import failed_jobs, labels_status


class Command(BaseCommand):
    help = "Process the image labelling queue (process), requeue dead jobs (retry), or report (status)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        process = sub.add_parser("process", help="Label every due queued image now.")
        process.add_argument("--limit", type=int, default=1000, help="At most this many jobs.")
        process.add_argument("--backend", choices=["fake", "rekognition"], help="Override LABELLER_BACKEND.")
        sub.add_parser("sweep", help="The scheduled job: requeue stuck jobs, then label a bounded batch.")
        retry = sub.add_parser("retry", help="Queue dead jobs again with a fresh attempt budget.")
        retry.add_argument("image_ids", nargs="*", type=int, help="Only these images (default: all dead).")
        sub.add_parser("status", help="Counts of images, jobs and labels, and the latest failures.")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "process":
            jobs.requeue_stale()
            summary = jobs.process(limit=options["limit"], labeller=get_labeller(options.get("backend")))
            self.stdout.write(
                self.style.SUCCESS(
                    f"Labelled {summary.done} image(s); {summary.retried} will be retried; "
                    f"{summary.dead} failed."
                )
            )
            for error in summary.errors[:20]:
                self.stdout.write(self.style.ERROR(f"  {error}"))
        elif action == "sweep":
            outcome = jobs.sweep()
            self.stdout.write(", ".join(f"{k.replace('_', ' ')} {v}" for k, v in outcome.items()))
        elif action == "retry":
            count = jobs.retry_dead(image_ids=options["image_ids"] or None)
            self.stdout.write(self.style.SUCCESS(f"Queued {count} dead job(s) again."))
        else:
            status = labels_status()
            for title, counts in (
                ("images", status.images),
                ("jobs", status.jobs),
                ("labels", status.labels),
            ):
                self.stdout.write(f"{title}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
            for job in failed_jobs(limit=10):
                self.stdout.write(self.style.ERROR(f"  failed image {job.image_id}: {job.last_error}"))
