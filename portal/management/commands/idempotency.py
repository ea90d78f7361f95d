"""Housekeeping for Idempotency-Key records.

manage.py idempotency prune      # delete records older than 24 hours (expired keys)
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from portal.idempotency import idempotency_prune


class Command(BaseCommand):
    help = "Delete expired Idempotency-Key records (older than 24 hours)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        sub.add_parser("prune", help="Delete records of keys older than 24 hours.")

    def handle(self, *args: Any, **options: Any) -> None:
        deleted = idempotency_prune()
        self.stdout.write(f"Deleted {deleted} expired idempotency record(s).")
