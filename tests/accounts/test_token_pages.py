"""The "API tokens" page: list, create (secret shown once), revoke; admins see everyone's."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import ApiToken, User
from accounts.services import api_token_create
from portal.audit.models import AuditEntry

pytestmark = pytest.mark.django_db
PAGE = "/accounts/tokens/"


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def secret_on(html: str) -> str:
    match = re.search(r'id="token-secret" value="([^"]+)"', html)
    assert match, "the secret is not on the page"
    return match.group(1)


def test_page_is_named_and_linked_from_the_header(editor: User) -> None:
    assert reverse("accounts:tokens") == PAGE
    html = logged_in(editor).get("/").content.decode()
    assert f'href="{PAGE}"' in html


def test_anonymous_visitors_are_sent_to_log_in(db: None) -> None:
    response = Client().get(PAGE)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("role", ["admin_user", "editor", "au_manager", "reviewer", "nobody"])
def test_every_role_lists_its_own_tokens_with_their_details(
    role: str, request: pytest.FixtureRequest
) -> None:
    # Given a user with an active and a revoked token, and someone else's token
    user: User = request.getfixturevalue(role)
    other = User.objects.create(username="someone-else")
    api_token_create(actor=None, user=user, name="nightly ingestion")
    revoked = api_token_create(actor=None, user=user, name="old script").token
    revoked.revoked_at = revoked.created_at
    revoked.save()
    api_token_create(actor=None, user=other, name="not yours")

    # When they open the page
    response = logged_in(user).get(PAGE)

    # Then they see their tokens: name, prefix, dates and status
    assert response.status_code == 200
    html = response.content.decode()
    token = ApiToken.objects.get(user=user, name="nightly ingestion")
    assert "nightly ingestion" in html and f"{token.prefix}…" in html
    assert "never used" in html and "token-active" in html and "token-revoked" in html
    assert token.created_at.strftime("%Y-%m-%d") in html
    # And someone else's token only if they are an admin
    assert ("not yours" in html) == (role == "admin_user")


def test_creating_a_token_shows_the_secret_exactly_once(editor: User) -> None:
    # Given an editor on the tokens page
    client = logged_in(editor)

    # When they create a token that expires in 90 days
    response = client.post(PAGE, {"name": "campaign calendar", "expiry": "90"})

    # Then the response shows the secret, with a copy button, and may not be cached
    assert response.status_code == 200
    html = response.content.decode()
    secret = secret_on(html)
    assert 'id="token-copy"' in html and "js/copy-secret.js" in html
    assert response["Cache-Control"] == "no-store"
    # And only its hash is stored
    token = ApiToken.objects.get(user=editor)
    assert secret not in repr(list(ApiToken.objects.values()))
    assert (token.expires_at - token.created_at).days in (89, 90)
    # And the secret works against the API
    assert Client().get("/api/v1/tokens/", HTTP_AUTHORIZATION=f"Token {secret}").status_code == 200
    # And it is never shown again
    assert secret not in client.get(PAGE).content.decode()
    assert AuditEntry.objects.filter(action="api_token.create", via="portal").exists()


def test_a_token_that_never_expires(editor: User) -> None:
    logged_in(editor).post(PAGE, {"name": "forever", "expiry": "never"})
    assert ApiToken.objects.get().expires_at is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "", "expiry": "90"}, "This field is required."),
        ({"name": "dup", "expiry": "90"}, "already has a token named"),
        ({"name": "x", "expiry": "9999"}, "Select a valid choice."),
    ],
)
def test_bad_input_is_shown_inline_and_creates_nothing(
    data: dict[str, str], message: str, editor: User
) -> None:
    api_token_create(actor=None, user=editor, name="dup")
    response = logged_in(editor).post(PAGE, data)
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html.replace("&#x27;", "'")
    assert 'class="errorlist"' in html
    assert ApiToken.objects.count() == 1
    assert 'id="token-secret"' not in html


def test_revoking_a_token(editor: User) -> None:
    token = api_token_create(actor=None, user=editor, name="leaked").token
    client = logged_in(editor)

    response = client.post(f"/accounts/tokens/{token.pk}/revoke/", follow=True)

    assert response.status_code == 200
    assert "is revoked" in response.content.decode()
    token.refresh_from_db()
    assert token.status == "revoked"
    assert AuditEntry.objects.filter(action="api_token.revoke", actor=editor).exists()


def test_revoking_needs_post(editor: User) -> None:
    token = api_token_create(actor=None, user=editor, name="t").token
    assert logged_in(editor).get(f"/accounts/tokens/{token.pk}/revoke/").status_code == 405


def test_users_cannot_revoke_each_others_tokens(editor: User, reviewer: User) -> None:
    token = api_token_create(actor=None, user=editor, name="theirs").token
    response = logged_in(reviewer).post(f"/accounts/tokens/{token.pk}/revoke/")
    assert response.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_admins_see_filter_and_revoke_other_users_tokens(
    admin_user: User, editor: User, reviewer: User
) -> None:
    # Given tokens of two other users
    theirs = api_token_create(actor=None, user=editor, name="pipeline").token
    api_token_create(actor=None, user=reviewer, name="reviewer script")
    client = logged_in(admin_user)

    # When the admin filters by the editor
    html = client.get(PAGE, {"user": "editor"}).content.decode()

    # Then only the editor's token is listed among other users' tokens
    assert "pipeline" in html and "reviewer script" not in html

    # And the admin may revoke it
    response = client.post(f"/accounts/tokens/{theirs.pk}/revoke/", follow=True)
    assert "of editor is revoked" in response.content.decode()
    theirs.refresh_from_db()
    assert theirs.status == "revoked"


def test_page_query_count_does_not_grow_with_tokens(
    admin_user: User, django_assert_max_num_queries: Any
) -> None:
    for n in range(25):
        user = User.objects.create(username=f"bot{n}")
        api_token_create(actor=None, user=user, name="bot")
        api_token_create(actor=None, user=admin_user, name=f"mine {n}")
    client = logged_in(admin_user)
    with django_assert_max_num_queries(8):
        response = client.get(PAGE)
    assert response.content.decode().count("Revoke</button>") == 50


def test_page_has_no_inline_scripts_or_handlers(editor: User) -> None:
    api_token_create(actor=None, user=editor, name="t")
    for html in (
        logged_in(editor).get(PAGE).content.decode(),
        logged_in(editor).post(PAGE, {"name": "new", "expiry": "30"}).content.decode(),
    ):
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
        assert not re.search(r"\son[a-z]+=", html)
        assert all(f'for="{i}"' in html for i in re.findall(r'<input[^>]*type="text"[^>]*id="([^"]+)"', html))
