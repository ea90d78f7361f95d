"""`manage.py gateway reconcile [--repair] | sync-usage [--days N] | expire-keys`.

The scheduled jobs of the partners area (portal/scheduled.py runs them on Lambda): usage hourly,
expiry every few minutes, reconcile daily or by hand after an incident.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.partners import services
from accounts.partners.gateway import GatewayError, get_gateway


class Command(BaseCommand):
    help = "Partner keys and usage plans on the gateway: reconcile drift, sync usage, expire keys."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        reconcile = sub.add_parser("reconcile", help="Report (and with --repair fix) drift from the gateway.")
        reconcile.add_argument("--repair", action="store_true", help="Make the gateway match Meridian.")
        usage = sub.add_parser(
            "sync-usage", help="Store each key's usage per day (get_usage / local counters)."
        )
        usage.add_argument(
            "--days", type=int, default=2, help="How many days back, today included (default 2)."
        )
        sub.add_parser("expire-keys", help="Expire keys past their expires_at (rotation grace included).")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        try:
            if action == "reconcile":
                self._reconcile(repair=options["repair"])
            elif action == "sync-usage":
                rows = services.usage_sync(days=options["days"])
                self.stdout.write(f"Usage stored: {rows} key-days ({get_gateway().name}).")
            else:
                count = services.keys_expire()
                self.stdout.write(f"Expired {count} key(s).")
        except GatewayError as exc:
            raise CommandError(f"The gateway failed: {exc}") from exc

    def _reconcile(self, *, repair: bool) -> None:
        report = services.gateway_reconcile(repair=repair)
        name = get_gateway().name
        if not report.drifts:
            self.stdout.write(self.style.SUCCESS(f"No drift ({name})."))
            return
        self.stdout.write(f"{len(report.drifts)} difference(s) from the gateway ({name}):")
        for drift in report.drifts:
            what = f"{drift.kind} {drift.pk if drift.pk is not None else '—'}"
            where = f" [{drift.gateway_id}]" if drift.gateway_id else ""
            fixable = "" if drift.repairable else " (needs a person)"
            self.stdout.write(f"  {what}{where}: {drift.problem}{fixable}")
        if repair:
            self.stdout.write(f"Repaired {len(report.repaired)}; failed {len(report.failed)}.")
            for drift, error in report.failed:
                self.stderr.write(f"  {drift.kind} {drift.pk}: {error}")
        else:
            self.stdout.write("Run with --repair to make the gateway match.")
