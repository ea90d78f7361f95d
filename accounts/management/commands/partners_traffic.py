"""`manage.py partners_traffic rollup | import-logs | import-due | prune | demo` (docs/partners.md).

`rollup` recomputes recent minutes from the local samples, `import-logs` reads API Gateway's
access logs of the last N minutes with Logs Insights (by hand), `import-due` reads them from where
the last import stopped (every 5 minutes, scheduled in the primary region), `prune` applies the
retention (daily, scheduled) and `demo` writes a day of traffic for the demo partner.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.partners.gateway.logs_insights import LogsQueryError
from accounts.partners.traffic import services
from accounts.partners.traffic.aggregation import minute_of


class Command(BaseCommand):
    help = "Partner traffic rollups: roll up local samples, import access logs, prune, demo traffic."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        rollup = sub.add_parser("rollup", help="Recompute the last N minutes from local samples.")
        rollup.add_argument("--minutes", type=int, default=10)
        logs = sub.add_parser("import-logs", help="Read API Gateway access logs of the last N minutes.")
        logs.add_argument("--minutes", type=int, default=15)
        logs.add_argument("--lag", type=int, default=2, help="Leave out the newest N minutes (log delivery).")
        sub.add_parser(
            "import-due", help="Read API Gateway access logs from where the last import stopped (scheduled)."
        )
        sub.add_parser("prune", help="Delete samples > 2 days, minutes > 14 days, hours > 400 days old.")
        demo = sub.add_parser("demo", help="Write demo traffic for the demo partner's key.")
        demo.add_argument("--hours", type=int, default=24)

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        now = datetime.now(UTC)
        if action == "rollup":
            if options["minutes"] < 1:
                raise CommandError("--minutes must be at least 1.")
            first, last = services.traffic_rollup(start=now - timedelta(minutes=options["minutes"]), end=now)
            self.stdout.write(f"Rolled up {first:%H:%M}–{last:%H:%M} UTC.")
        elif action == "import-logs":
            if options["minutes"] < 1 or options["lag"] < 0:
                raise CommandError("--minutes must be at least 1 and --lag not negative.")
            end = minute_of(now) - timedelta(minutes=options["lag"])
            try:
                start = end - timedelta(minutes=options["minutes"])
                written = services.traffic_import_logs(start=start, end=end)
            except LogsQueryError as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(f"Access logs imported: {written} key-minutes.")
        elif action == "import-due":
            try:
                run = services.traffic_import_due(now=now)
            except LogsQueryError as exc:
                raise CommandError(str(exc)) from exc
            read = f" from {run.start:%Y-%m-%d %H:%M}" if run.start else ""
            self.stdout.write(
                f"Access logs imported{read} until {run.imported_until:%Y-%m-%d %H:%M} UTC: "
                f"{run.windows} window(s), {run.buckets} key-minutes"
                + (" (behind: the next run goes on)." if run.behind else ".")
            )
        elif action == "prune":
            pruned = services.traffic_prune(now=now)
            self.stdout.write(
                f"Pruned {pruned.samples} samples, {pruned.minutes} minute and {pruned.hours} hour rollups."
            )
        else:
            if not 1 <= options["hours"] <= 24 * 14:
                raise CommandError("--hours must be between 1 and 336 (minute rollups last 14 days).")
            from accounts.partners.demo import load_traffic_demo

            buckets = load_traffic_demo(hours=options["hours"], now=now)
            if buckets is None:
                raise CommandError("The demo partner's key does not exist: run `manage.py demo_data` first.")
            self.stdout.write(f"Demo traffic: {buckets} key-minutes over {options['hours']} hours.")
