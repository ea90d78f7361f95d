"""`manage.py metrics`: emit the operational figures as one CloudWatch EMF line (scheduled each minute)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand

from portal.observability import metrics
from portal.observability.selectors import operational_figures


class Command(BaseCommand):
    help = "Emit outbox depth/age/dead letters, publish latency and the labelling queue as EMF metrics."

    def handle(self, *args: Any, **options: Any) -> None:
        figures = operational_figures()
        metrics.emit(figures.metrics(), properties={"published_recently": figures.published_recently})
        self.stdout.write(json.dumps(figures.metrics(), sort_keys=True))
