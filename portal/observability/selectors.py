"""Operational figures for the metrics job, read from the existing status selectors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import DurationField, ExpressionWrapper, F
from django.utils import timezone

from content.labels.selectors import labels_status
from portal.shared_tables.models import OutboxEntry, OutboxStatus
from portal.shared_tables.selectors import publish_status


@dataclass(frozen=True)
class OperationalFigures:
    """What the metrics job reports once a minute (all counts are current, latencies recent)."""

    outbox_depth: int
    outbox_oldest_age_seconds: float
    outbox_dead_letters: int
    publish_latency_ms: float | None
    publish_latency_max_ms: float | None
    published_recently: int
    labelling_queue_depth: int
    labelling_dead_jobs: int

    def metrics(self) -> dict[str, float]:
        values: dict[str, float] = {
            "OutboxDepth": self.outbox_depth,
            "OutboxOldestAgeSeconds": self.outbox_oldest_age_seconds,
            "OutboxDeadLetters": self.outbox_dead_letters,
            "LabellingQueueDepth": self.labelling_queue_depth,
            "LabellingDeadJobs": self.labelling_dead_jobs,
        }
        if self.publish_latency_ms is not None and self.publish_latency_max_ms is not None:
            values["PublishLatencyMs"] = self.publish_latency_ms
            values["PublishLatencyMaxMs"] = self.publish_latency_max_ms
        return values


def operational_figures(
    *, now: datetime | None = None, window: timedelta = timedelta(minutes=5)
) -> OperationalFigures:
    """Return outbox depth, age and dead letters, recent publish latency and the labelling queue."""
    now = now or timezone.now()
    status = publish_status()
    age = (now - status.oldest_pending_at).total_seconds() if status.oldest_pending_at else 0.0
    # Latency = saved → published, over the rows published in the last `window`.
    recent = OutboxEntry.objects.filter(
        status=OutboxStatus.PUBLISHED, published_at__gte=now - window, published_at__lte=now
    ).annotate(latency=ExpressionWrapper(F("published_at") - F("created_at"), output_field=DurationField()))
    latencies = [
        delta.total_seconds() * 1000 for delta in recent.values_list("latency", flat=True)[:5000] if delta
    ]
    labels = labels_status()
    return OperationalFigures(
        outbox_depth=status.pending,
        outbox_oldest_age_seconds=max(0.0, age),
        outbox_dead_letters=status.dead,
        publish_latency_ms=round(sum(latencies) / len(latencies), 1) if latencies else None,
        publish_latency_max_ms=round(max(latencies), 1) if latencies else None,
        published_recently=len(latencies),
        labelling_queue_depth=labels.jobs.get("queued", 0) + labels.jobs.get("running", 0),
        labelling_dead_jobs=labels.jobs.get("dead", 0),
    )


__all__ = ["OperationalFigures", "operational_figures"]
