"""`manage.py api_token create|list|revoke`: automation tokens from the command line.

`create` prints the secret alone on stdout, so a script can capture it:
    TOKEN=$(python manage.py api_token create --user pipeline --name "nightly ingestion")
"""

from __future__ import annotations

from argparse import ArgumentParser
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.models import ApiToken, User
from accounts.services import api_token_create, api_token_revoke


class Command(BaseCommand):
    help = "Create, list or revoke a user's REST API tokens (the secret is printed once, by create)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="subcommand", required=True, metavar="{create,list,revoke}")
        create = sub.add_parser("create", help="Create a token and print its secret (only time it is shown).")
        create.add_argument("--user", required=True, help="Username the token acts as.")
        create.add_argument("--name", required=True, help="What the token is for; unique per user.")
        expiry = create.add_mutually_exclusive_group()
        expiry.add_argument("--days", type=int, help="Expire after this many days (default: settings).")
        expiry.add_argument("--never-expires", action="store_true", help="Never expire (revoke by hand).")
        listing = sub.add_parser("list", help="List a user's tokens (never their secrets).")
        listing.add_argument("--user", required=True)
        revoke = sub.add_parser("revoke", help="Revoke a user's token by name; it stops working at once.")
        revoke.add_argument("--user", required=True)
        revoke.add_argument("--name", required=True)

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(username=options["user"]).first()
        if user is None:
            raise CommandError(f"There is no user {options['user']!r}.")
        getattr(self, f"_{options['subcommand']}")(user, options)

    def _create(self, user: User, options: dict[str, Any]) -> None:
        days = options.get("days")
        if days is not None and not 1 <= days <= 3650:
            raise CommandError("--days must be between 1 and 3650.")
        try:
            issued = api_token_create(
                actor=None,
                user=user,
                name=options["name"],
                expires_at=timezone.now() + timedelta(days=days) if days else None,
                never_expires=options["never_expires"],
                via="command",
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        # The secret alone on stdout: anything else goes to stderr so `$(...)` captures just it.
        self.stdout.write(issued.secret)
        expires = issued.token.expires_at.isoformat() if issued.token.expires_at else "never"
        self.stderr.write(f"Token {issued.token.name!r} for {user.get_username()} (expires: {expires}).")

    def _list(self, user: User, options: dict[str, Any]) -> None:
        tokens = ApiToken.objects.filter(user=user).order_by("-created_at")
        if not tokens:
            self.stderr.write(f"{user.get_username()} has no tokens.")
            return
        for token in tokens:
            expires = token.expires_at.isoformat() if token.expires_at else "never"
            used = token.last_used_at.isoformat() if token.last_used_at else "never"
            self.stdout.write(
                f"{token.name}\t{token.prefix}…\t{token.status}\tcreated {token.created_at.isoformat()}"
                f"\texpires {expires}\tlast used {used}"
            )

    def _revoke(self, user: User, options: dict[str, Any]) -> None:
        token = ApiToken.objects.filter(user=user, name=options["name"]).first()
        if token is None:
            raise CommandError(f"{user.get_username()} has no token named {options['name']!r}.")
        api_token_revoke(actor=None, token=token, via="command")
        self.stdout.write(f"Revoked {token.name!r} ({token.prefix}…) of {user.get_username()}.")
