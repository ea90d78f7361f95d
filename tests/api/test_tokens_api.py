"""Automation tokens over the API: shown once, stored hashed, expiry, revocation, auth schemes."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from rest_framework.test import APIClient

from accounts.models import ApiToken, User
from accounts.services import api_token_create, api_token_revoke
from markets.models import Market

pytestmark = pytest.mark.django_db


def token_client(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    return client


def test_create_returns_the_secret_once_and_stores_only_its_hash(
    client_for: Callable[[str | None], Any],
) -> None:
    # Given an editor
    client = client_for("editor")

    # When they create a token
    response = client.post("/api/v1/tokens/", {"name": "ingestion pipeline", "days": 30}, format="json")

    # Then the answer carries the secret, not cacheable
    assert response.status_code == 201
    body = response.json()
    secret = body["secret"]
    assert secret.startswith("mrd_") and len(secret) > 40
    assert response["Cache-Control"] == "no-store"
    # And the database holds its SHA-256 and a short prefix, never the secret itself
    token = ApiToken.objects.get(pk=body["id"])
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret.startswith(token.prefix) and len(token.prefix) < 12
    assert secret not in repr(list(ApiToken.objects.values()))
    # And listing never shows it again
    listed = client.get("/api/v1/tokens/")
    assert secret not in listed.content.decode()
    assert "secret" not in listed.json()["results"][0]
    # And it expires in 30 days
    assert abs((token.expires_at - datetime.now(UTC)) - timedelta(days=30)) < timedelta(minutes=1)


def test_token_authentication_works_and_notes_last_use(markets: dict[str, Market], editor: User) -> None:
    # Given a token of the editor
    issued = api_token_create(actor=None, user=editor, name="script")

    # When a script calls the API with it
    response = token_client(issued.secret).get("/api/v1/markets/")

    # Then it acts as the editor, and the token's last use is recorded
    assert response.status_code == 200
    assert len(response.json()["results"]) == 4
    issued.token.refresh_from_db()
    assert issued.token.last_used_at is not None


def test_token_writes_need_no_csrf_and_are_audited_as_the_user(
    markets: dict[str, Market], items: Any, editor: User
) -> None:
    issued = api_token_create(actor=None, user=editor, name="campaign calendar")
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Token {issued.secret}")
    response = client.put("/api/v1/markets/AU/positions/vid-ocean/", {"state": "hidden"}, format="json")
    assert response.status_code == 200
    assert response.json()["author"] == "editor"


@pytest.mark.parametrize(
    "header",
    ["Token mrd_not-a-real-token", "Token ", "Bearer {secret}", "Token {secret} extra", "token{secret}"],
)
def test_bad_credentials_are_401(header: str, markets: dict[str, Market], editor: User) -> None:
    issued = api_token_create(actor=None, user=editor, name="script")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header.format(secret=issued.secret))
    assert client.get("/api/v1/markets/").status_code == 401


def test_expired_token_is_401(markets: dict[str, Market], editor: User) -> None:
    issued = api_token_create(
        actor=None, user=editor, name="short", expires_at=datetime.now(UTC) + timedelta(days=1)
    )
    client = token_client(issued.secret)
    assert client.get("/api/v1/markets/").status_code == 200
    with time_machine.travel(datetime.now(UTC) + timedelta(days=1, seconds=1)):
        response = client.get("/api/v1/markets/")
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


def test_revoked_token_is_401_at_once(markets: dict[str, Market], editor: User) -> None:
    issued = api_token_create(actor=None, user=editor, name="leaked")
    client = token_client(issued.secret)
    assert client.get("/api/v1/markets/").status_code == 200

    assert client_revoke(editor, issued.token.pk).status_code == 204

    assert client.get("/api/v1/markets/").status_code == 401
    issued.token.refresh_from_db()
    assert issued.token.status == "revoked"


def client_revoke(user: User, pk: int) -> Any:
    client = APIClient()
    client.force_login(user)
    return client.delete(f"/api/v1/tokens/{pk}/")


def test_token_of_a_deactivated_user_is_401(markets: dict[str, Market], editor: User) -> None:
    issued = api_token_create(actor=None, user=editor, name="script")
    User.objects.filter(pk=editor.pk).update(is_active=False)
    assert token_client(issued.secret).get("/api/v1/markets/").status_code == 401


def test_session_auth_works_for_the_browser(
    markets: dict[str, Market], client_for: Callable[[str | None], Any]
) -> None:
    assert client_for("editor").get("/api/v1/markets/").status_code == 200
    assert APIClient().get("/api/v1/markets/").status_code == 401


def test_session_writes_need_the_csrf_token(markets: dict[str, Market], editor: User) -> None:
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(editor)
    response = client.post("/api/v1/tokens/", {"name": "x"}, format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert not ApiToken.objects.exists()


def test_users_see_and_revoke_only_their_own_tokens(
    editor: User, reviewer: User, client_for: Callable[[str | None], Any]
) -> None:
    mine = api_token_create(actor=None, user=reviewer, name="mine").token
    theirs = api_token_create(actor=None, user=editor, name="theirs").token
    client = client_for("reviewer")

    assert [t["name"] for t in client.get("/api/v1/tokens/").json()["results"]] == ["mine"]
    assert client.delete(f"/api/v1/tokens/{theirs.pk}/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None
    assert client.delete(f"/api/v1/tokens/{mine.pk}/").status_code == 204


def test_admins_see_filter_and_revoke_everyone_s_tokens(
    editor: User, reviewer: User, client_for: Callable[[str | None], Any]
) -> None:
    api_token_create(actor=None, user=reviewer, name="r1")
    theirs = api_token_create(actor=None, user=editor, name="e1").token
    client = client_for("admin_user")

    names = {(t["user"], t["name"]) for t in client.get("/api/v1/tokens/").json()["results"]}
    assert names == {("reviewer", "r1"), ("editor", "e1")}
    assert [t["name"] for t in client.get("/api/v1/tokens/?user=editor").json()["results"]] == ["e1"]
    assert client.delete(f"/api/v1/tokens/{theirs.pk}/").status_code == 204
    theirs.refresh_from_db()
    assert theirs.status == "revoked"


def test_only_admins_create_tokens_for_other_users(
    editor: User, reviewer: User, client_for: Callable[[str | None], Any]
) -> None:
    refused = client_for("editor").post("/api/v1/tokens/", {"name": "x", "user": "reviewer"}, format="json")
    assert refused.status_code == 403
    assert not ApiToken.objects.exists()

    made = client_for("admin_user").post(
        "/api/v1/tokens/", {"name": "pipeline", "user": "reviewer", "never_expires": True}, format="json"
    )
    assert made.status_code == 201
    token = ApiToken.objects.get()
    assert (token.user, token.expires_at) == (reviewer, None)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": "  "}, "name"),
        ({"name": "dup"}, "name"),
        ({"name": "x", "days": 0}, "days"),
        ({"name": "x", "days": "many"}, "days"),
        ({"name": "x", "days": 5, "never_expires": True}, "never_expires"),
        ({"name": "x", "days": 5, "expires_at": "2030-01-01T00:00:00Z"}, "expires_at"),
        ({"name": "x", "expires_at": "2020-01-01T00:00:00Z"}, "expires_at"),
        ({"name": "x", "expires_at": "2030-01-01T00:00:00"}, "expires_at"),
        ({"name": "x", "user": "ghost"}, "user"),
        ({"name": "x", "scopes": ["all"]}, "scopes"),
    ],
)
def test_bad_token_requests_are_400(
    body: dict[str, Any], field: str, admin_user: User, client_for: Callable[[str | None], Any]
) -> None:
    api_token_create(actor=None, user=admin_user, name="dup")
    response = client_for("admin_user").post("/api/v1/tokens/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert ApiToken.objects.count() == 1


def test_token_list_query_count_is_constant(
    admin_user: User, client_for: Callable[[str | None], Any], django_assert_max_num_queries: Any
) -> None:
    for n in range(30):
        user = User.objects.create(username=f"bot{n}")
        api_token_create(actor=None, user=user, name="bot")
    revoked = ApiToken.objects.first()
    assert revoked is not None
    api_token_revoke(actor=None, token=revoked)
    client = client_for("admin_user")
    with django_assert_max_num_queries(4):
        response = client.get("/api/v1/tokens/?page_size=100")
    assert len(response.json()["results"]) == 30
    assert sorted({t["status"] for t in response.json()["results"]}) == ["active", "revoked"]


def test_a_token_cannot_mint_new_tokens(editor: User) -> None:
    # Given a token (which might have leaked)
    issued = api_token_create(actor=None, user=editor, name="script")

    # When it is used to create another token
    response = token_client(issued.secret).post("/api/v1/tokens/", {"name": "backdoor"}, format="json")

    # Then it is refused, and only the original exists; it may still list and revoke itself
    assert response.status_code == 403
    assert ApiToken.objects.count() == 1
    client = token_client(issued.secret)
    assert [t["name"] for t in client.get("/api/v1/tokens/").json()["results"]] == ["script"]
    assert client.delete(f"/api/v1/tokens/{issued.token.pk}/").status_code == 204
