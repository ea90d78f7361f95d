"""`manage.py api_token create|list|revoke`."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from accounts.models import ApiToken, User
from markets.models import Market

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("api_token", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_create_prints_only_a_usable_secret(editor: User, au: Market) -> None:
    # When a token is created for the editor
    out, err = run("create", "--user", "editor", "--name", "nightly ingestion")

    # Then stdout is the secret alone, and it authenticates as the editor
    secret = out.strip()
    assert out.count("\n") == 1 and secret.startswith("mrd_")
    assert "nightly ingestion" in err
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    assert client.get("/api/v1/markets/").status_code == 200
    token = ApiToken.objects.get()
    assert secret not in repr(list(ApiToken.objects.values()))
    # And it expires after the default lifetime
    assert token.expires_at is not None and token.expires_at > datetime.now(UTC) + timedelta(days=300)


def test_create_with_days_or_never(editor: User) -> None:
    run("create", "--user", "editor", "--name", "short", "--days", "7")
    run("create", "--user", "editor", "--name", "forever", "--never-expires")
    short = ApiToken.objects.get(name="short")
    assert short.expires_at is not None
    assert timedelta(days=6, hours=23) < short.expires_at - datetime.now(UTC) <= timedelta(days=7)
    assert ApiToken.objects.get(name="forever").expires_at is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create", "--user", "ghost", "--name", "x"], "no user 'ghost'"),
        (["create", "--user", "editor", "--name", "dup"], "already has a token named"),
        (["create", "--user", "editor", "--name", "x", "--days", "0"], "between 1 and 3650"),
        (["create", "--user", "editor", "--name", "  "], "Give the token a name"),
        (["revoke", "--user", "editor", "--name", "nope"], "no token named 'nope'"),
    ],
)
def test_errors_are_clear(args: list[str], message: str, editor: User) -> None:
    run("create", "--user", "editor", "--name", "dup")
    with pytest.raises(CommandError, match=message):
        run(*args)
    assert ApiToken.objects.count() == 1


def test_days_and_never_expires_exclude_each_other(editor: User) -> None:
    with pytest.raises(CommandError):
        run("create", "--user", "editor", "--name", "x", "--days", "3", "--never-expires")


def test_list_and_revoke(editor: User, au: Market) -> None:
    secret = run("create", "--user", "editor", "--name", "pipeline")[0].strip()
    run("create", "--user", "editor", "--name", "other")

    listing = run("list", "--user", "editor")[0]
    assert "pipeline" in listing and "other" in listing and "active" in listing
    assert secret not in listing

    out, _ = run("revoke", "--user", "editor", "--name", "pipeline")
    assert "Revoked 'pipeline'" in out
    assert "revoked" in run("list", "--user", "editor")[0]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    assert client.get("/api/v1/markets/").status_code == 401


def test_list_of_a_user_without_tokens(editor: User) -> None:
    out, err = run("list", "--user", "editor")
    assert out == "" and "no tokens" in err
