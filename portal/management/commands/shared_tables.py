"""Operate the shared admin tables: create, publish, retry, reconcile, status, prune.

manage.py shared_tables create                      # create missing tables (PAY_PER_REQUEST)
manage.py shared_tables publish                     # drain the outbox now (the sweep runs this)
manage.py shared_tables retry --all | --id 12 13    # queue dead letters again, then publish
manage.py shared_tables reconcile [--market AU] [--repair]
manage.py shared_tables status
manage.py shared_tables prune [--days 30]           # delete old published outbox rows
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from markets.models import Market
from positioning.tables import SharedTablesError

# A sweep on Lambda stops starting new batches after this many seconds, well inside the
# function's timeout; rows left over are the next minute's.
_LAMBDA_TIME_BUDGET = 80.0


class Command(BaseCommand):
    help = "Create, publish to, retry, reconcile and inspect the shared admin tables."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        sub.add_parser("create", help="Create the tables that are missing.")
        publish = sub.add_parser("publish", help="Publish pending outbox rows now.")
        publish.add_argument("--batch-size", type=int, default=None)
        publish.add_argument(
            "--time-budget",
            type=float,
            default=None,
            help="Stop starting new batches after this many seconds (default: none; 80 on Lambda).",
        )
        retry = sub.add_parser("retry", help="Queue dead letters again and publish them.")
        which = retry.add_mutually_exclusive_group(required=True)
        which.add_argument("--all", action="store_true", help="Every dead letter.")
        which.add_argument("--id", type=int, nargs="+", dest="ids", help="Outbox row ids.")
        retry.add_argument("--no-publish", action="store_true", help="Only queue them; the sweep publishes.")
        reconcile = sub.add_parser("reconcile", help="Compare the database with the tables.")
        reconcile.add_argument("--market", help="Only this market's item and positions.")
        reconcile.add_argument("--repair", action="store_true", help="Repair what differs.")
        sub.add_parser("status", help="Pending and dead outbox rows.")
        prune = sub.add_parser("prune", help="Delete outbox rows published long ago.")
        prune.add_argument("--days", type=int, default=30)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            getattr(self, f"_{options['action']}")(options)
        except SharedTablesError as exc:
            raise CommandError(f"The shared tables failed: {exc}") from exc

    def _create(self, options: dict[str, Any]) -> None:
        from portal.shared_tables.config import shared_tables

        tables = shared_tables()
        created = tables.create_tables()
        for name in created:
            self.stdout.write(f"Created {name}")
        self.stdout.write(
            self.style.SUCCESS(
                f"{len(created)} table(s) created on the {tables.backend_name} backend; "
                f"prefix {tables.prefix!r}; the others already existed."
            )
        )

    def _publish(self, options: dict[str, Any]) -> None:
        from portal.shared_tables.publisher import drain

        budget = options["time_budget"]
        if budget is None and settings.ON_LAMBDA:
            budget = _LAMBDA_TIME_BUDGET
        result = drain(batch_size=options["batch_size"], time_budget=budget)
        self.stdout.write(result.summary())
        for error in result.errors:
            self.stdout.write(f"  {error}")
        if result.unavailable:
            raise CommandError("The shared tables are unreachable; the rows stay pending.")

    def _retry(self, options: dict[str, Any]) -> None:
        from portal.shared_tables.services import dead_letters_retry

        queued = dead_letters_retry(
            actor=None, entry_ids=None if options["all"] else options["ids"], via="command"
        )
        self.stdout.write(f"{queued} dead letter(s) queued again.")
        if queued and not options["no_publish"]:
            self._publish({"batch_size": None, "time_budget": None})

    def _reconcile(self, options: dict[str, Any]) -> None:
        from portal.shared_tables.reconcile import reconcile

        market = options["market"]
        if market is not None:
            market = market.strip().upper()
            if not Market.objects.filter(code=market).exists():
                raise CommandError(f"No market {market!r}.")
        report = reconcile(market=market, repair=options["repair"])
        for line in report.lines():
            self.stdout.write(line)
        if report.clean:
            self.stdout.write(self.style.SUCCESS("The tables match the database."))
        elif not options["repair"]:
            self.stdout.write(self.style.WARNING("Drift found; run again with --repair to fix it."))

    def _status(self, options: dict[str, Any]) -> None:
        from portal.shared_tables.selectors import publish_status

        status = publish_status()
        self.stdout.write(f"Pending: {status.pending}")
        if status.oldest_pending_at:
            self.stdout.write(f"Oldest pending since: {status.oldest_pending_at.isoformat()}")
        self.stdout.write(f"Dead letters: {status.dead}")
        if status.last_error:
            self.stdout.write(f"Latest error: {status.last_error}")

    def _prune(self, options: dict[str, Any]) -> None:
        from portal.shared_tables.services import outbox_prune

        try:
            deleted = outbox_prune(older_than_days=options["days"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Deleted {deleted} published outbox row(s) older than {options['days']} day(s).")
