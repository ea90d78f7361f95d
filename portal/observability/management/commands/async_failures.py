"""`manage.py async_failures peek|drain`: what landed in this function's on-failure queue."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from portal.observability.async_failures import async_failures_drain, async_failures_peek


class Command(BaseCommand):
    help = "Show (peek) or log, count and delete (drain) failed asynchronous invocations."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["peek", "drain"])
        parser.add_argument("--limit", type=int, default=50)

    def handle(self, *args: Any, **options: Any) -> None:
        read = async_failures_peek if options["action"] == "peek" else async_failures_drain
        failures = read(limit=options["limit"])
        for failure in failures:
            self.stdout.write(
                f"{failure.failed_at} {failure.job} {failure.condition} x{failure.invoke_count} "
                f"{failure.request_id}: {failure.error_type} {failure.error_message}"
            )
        self.stdout.write(f"{len(failures)} failed asynchronous invocation(s)")
