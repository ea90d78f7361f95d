"""Detect and deliver notifications (docs/notifications.md).

manage.py notifications run        # detect new events, then send due emails and webhook attempts
manage.py notifications detect     # only detect (store new occurrences)
manage.py notifications deliver    # only send what is due
manage.py notifications digest     # email each user their daily digest
manage.py notifications prune      # delete what is older than NOTIFICATIONS_RETENTION_DAYS

Every action is idempotent: a second run finds the occurrences stored and the rows claimed.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from portal.notifications.services import (
    DeliveryReport,
    notifications_deliver,
    notifications_detect,
    notifications_digest,
    notifications_prune,
)


class Command(BaseCommand):
    help = "Detect notification events and deliver them (inbox, email, digest, webhooks)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        sub.add_parser("run", help="Detect, then deliver.")
        sub.add_parser("detect", help="Store new event occurrences.")
        sub.add_parser("deliver", help="Send due emails and webhook attempts.")
        sub.add_parser("digest", help="Email each user's daily digest.")
        sub.add_parser("prune", help="Delete notifications and deliveries past their retention.")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action in ("run", "detect"):
            # `run` delivers right after, in this process: no background delivery on top.
            created = notifications_detect(dispatch_delivery=action == "detect")
            self.stdout.write(f"{len(created)} new notification(s).")
        if action in ("run", "deliver"):
            self._report(notifications_deliver())
        if action == "digest":
            self.stdout.write(f"{notifications_digest()} digest(s) sent.")
        if action == "prune":
            pruned = notifications_prune()
            self.stdout.write(
                f"Pruned {pruned.notifications} notification(s), {pruned.receipts} receipt(s), "
                f"{pruned.deliveries} webhook delivery(ies)."
            )

    def _report(self, report: DeliveryReport) -> None:
        self.stdout.write(
            f"{report.emails} email(s) sent, {report.email_failures} failed; webhooks: "
            f"{report.webhooks_delivered} delivered, {report.webhooks_failed} to retry, "
            f"{report.webhooks_dead} dead."
        )
