"""Apply approved change requests whose time has come (docs/change-requests.md).

manage.py change_requests apply-due          # what the scheduled job runs every minute
manage.py change_requests apply-due --limit 20

Each request is applied exactly once: its row is locked (others running at the same time skip it)
and only an approved request is applied, so a repeated or overlapping run changes nothing.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from portal.change_requests.services import requests_apply_due


class Command(BaseCommand):
    help = "Apply approved change requests that are due."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        due = sub.add_parser("apply-due", help="Apply the approved requests whose apply time has passed.")
        due.add_argument("--limit", type=int, default=100, help="At most this many requests per run.")

    def handle(self, *args: Any, **options: Any) -> None:
        report = requests_apply_due(limit=max(1, min(options["limit"], 1000)))
        self.stdout.write(
            f"{len(report.applied)} change request(s) applied, {len(report.failed)} failed"
            + (f" (failed: {', '.join(f'#{pk}' for pk in report.failed)})" if report.failed else "")
            + "."
        )
