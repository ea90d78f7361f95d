"""`manage.py sso deactivate-stale --days N`: end access for SSO users the provider stopped confirming.

Run it daily (a Zappa scheduled event, or cron): a leaver who never signs in again then loses
their roles and API tokens at most N days after their last sign-in or session re-check.
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from accounts.sso.services import sso_users_deactivate_stale


class Command(BaseCommand):
    help = "Single sign-on housekeeping: deactivate SSO users not confirmed by the provider for N days."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="subcommand", required=True, metavar="{deactivate-stale}")
        stale = sub.add_parser("deactivate-stale", help="Deactivate SSO users unseen for --days days.")
        stale.add_argument("--days", type=int, default=30, help="Days without a sign-in (default 30).")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["days"] < 1:
            raise CommandError("--days must be at least 1.")
        users = sso_users_deactivate_stale(days=options["days"])
        for user in users:
            self.stdout.write(f"deactivated {user.get_username()}")
        self.stdout.write(f"{len(users)} SSO user(s) deactivated (not seen for {options['days']} days).")
