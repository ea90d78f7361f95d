"""Login page options, break-glass local logins, session maximum age and re-authentication."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from accounts.models import ApiToken, Role, User
from accounts.partners.models import Partner, UsagePlan
from accounts.sso.models import SsoGroupMapping
from accounts.sso.sessions import AUTH_AT
from tests.sso.conftest import finish_login, sso_login
from tests.sso.provider import Provider

pytestmark = pytest.mark.django_db
PASSWORD = "pw-for-tests"


def _age_login(client: Client, seconds: float) -> None:
    session = client.session
    session[AUTH_AT] = time.time() - seconds
    session.save()


# --- the login page -----------------------------------------------------------------------------
def test_without_a_provider_the_login_page_is_the_local_form(client: Client) -> None:
    html = client.get("/accounts/login/").content.decode()
    assert 'name="password"' in html and "Sign in with" not in html
    assert client.get("/accounts/sso/login/").status_code == 404
    assert client.get("/accounts/sso/callback/?code=x&state=y").status_code == 404


def test_with_a_provider_the_login_page_offers_it_and_the_local_form(client: Client, sso: Provider) -> None:
    html = client.get("/accounts/login/?next=/markets/").content.decode()
    assert "Sign in with Acme ID" in html
    assert 'href="/accounts/sso/login/?next=/markets/"' in html
    assert 'name="password"' in html


def test_local_logins_off_leaves_only_break_glass_admins(
    client: Client, sso: Provider, settings: Any, admin_user: User, editor: User
) -> None:
    # Given production's switch: local passwords off, except for the break-glass admin
    settings.LOCAL_LOGIN_ENABLED = False
    settings.LOCAL_LOGIN_BREAK_GLASS_USERS = ["admin"]

    # Then the login page offers only single sign-on, and the form only when asked for
    html = client.get("/accounts/login/").content.decode()
    assert "Sign in with Acme ID" in html and 'name="password"' not in html
    assert "Break-glass" in client.get("/accounts/login/?local=1").content.decode()
    # And an editor's correct password is refused, the break-glass admin's accepted
    refused = client.post("/accounts/login/?local=1", {"username": "editor", "password": PASSWORD})
    assert refused.status_code == 200 and client.get("/").status_code == 302
    accepted = client.post("/accounts/login/?local=1", {"username": "admin", "password": PASSWORD})
    assert accepted.status_code == 302 and client.get("/").status_code == 200


# --- session maximum age ------------------------------------------------------------------------
def test_a_session_ends_at_its_maximum_age_however_active(
    client: Client, editor: User, settings: Any
) -> None:
    settings.SESSION_MAX_AGE_SECONDS = 3600
    client.force_login(editor)
    _age_login(client, 3500)
    assert client.get("/").status_code == 200
    _age_login(client, 3601)
    response = client.get("/markets/")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/?next=/markets/"
    assert client.get("/").status_code == 302


# --- re-authentication for sensitive actions ----------------------------------------------------
def test_creating_a_token_after_an_old_login_asks_for_the_password_again(
    client: Client, editor: User, settings: Any
) -> None:
    settings.SSO_REAUTH_MINUTES = 15
    client.force_login(editor)
    _age_login(client, 16 * 60)
    # Listing needs no fresh login, creating does
    assert client.get("/accounts/tokens/").status_code == 200
    response = client.post("/accounts/tokens/", {"name": "calendar", "expiry": "30"})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/sso/reauth/?next=%2Faccounts%2Ftokens%2F"
    assert not ApiToken.objects.exists()

    page = client.get(response["Location"])
    assert "Confirm it is you" in page.content.decode()
    wrong = client.post("/accounts/sso/reauth/", {"password": "nope", "next": "/accounts/tokens/"})
    assert wrong.status_code == 400 and "not right" in wrong.content.decode()
    right = client.post("/accounts/sso/reauth/", {"password": PASSWORD, "next": "/accounts/tokens/"})
    assert right.status_code == 302 and right["Location"] == "/accounts/tokens/"

    created = client.post("/accounts/tokens/", {"name": "calendar", "expiry": "30"})
    assert created.status_code == 200 and ApiToken.objects.filter(user=editor, name="calendar").exists()


def test_reauth_never_redirects_off_site(client: Client, editor: User) -> None:
    client.force_login(editor)
    response = client.post("/accounts/sso/reauth/", {"password": PASSWORD, "next": "https://evil.example/"})
    assert response["Location"] == "/"


def test_issuing_and_rotating_partner_keys_need_a_recent_login(
    client: Client, admin_user: User, settings: Any
) -> None:
    settings.SSO_REAUTH_MINUTES = 15
    client.force_login(admin_user)
    assert client.get("/partners/keys/issue/").status_code == 200
    _age_login(client, 16 * 60)
    for url in ("/partners/keys/issue/", "/partners/keys/1/rotate/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/sso/reauth/?next=")
    # And a session from before this feature (no login time) counts as old
    session = client.session
    del session[AUTH_AT]
    session.save()
    assert client.post("/partners/keys/issue/", {})["Location"].startswith("/accounts/sso/reauth/")
    assert not Partner.objects.exists() and not UsagePlan.objects.exists()


def test_an_sso_user_re_authenticates_at_the_provider(client: Client, sso: Provider, settings: Any) -> None:
    # Given Mia, signed in through the provider as admin 20 minutes ago
    SsoGroupMapping.objects.create(group_name="meridian-admins", role=Role.ADMIN)
    sso_login(client, sso, "00u-mia-1", groups=["meridian-admins"], email="mia@example.com")
    _age_login(client, 20 * 60)

    # When she opens the key issue page, she is asked to sign in again with the provider
    reauth = client.get("/partners/keys/issue/")["Location"]
    html = client.get(reauth).content.decode()
    assert "Sign in again with Acme ID" in html and 'name="password"' not in html
    start = client.get("/accounts/sso/login/?reauth=1&next=/partners/keys/issue/")
    query = parse_qs(urlsplit(start["Location"]).query)
    # And the provider is asked for a real sign-in, not its remembered session
    assert query["prompt"] == ["login"] and query["max_age"] == ["0"]

    # Then after signing in again she is back on the page, which now opens
    response = finish_login(client, sso.sign_in(start["Location"], "00u-mia-1"))
    assert response["Location"] == "/partners/keys/issue/"
    assert client.get("/partners/keys/issue/").status_code == 200


# --- the provider's periodic re-check -----------------------------------------------------------
def test_an_sso_session_is_rechecked_with_the_provider_and_ends_when_it_refuses(
    client: Client, sso: Provider, settings: Any
) -> None:
    # Given Mia signed in through the provider, and the re-check interval has passed
    SsoGroupMapping.objects.create(group_name="meridian-admins", role=Role.ADMIN)
    sso_login(client, sso, "00u-mia-1", groups=["meridian-admins"], email="mia@example.com")
    session = client.session
    session["oidc_id_token_expiration"] = time.time() - 1
    session.save()

    # When she opens a page, Meridian asks the provider silently (prompt=none)
    response = client.get("/markets/")
    assert response.status_code == 302
    query = parse_qs(urlsplit(response["Location"]).query)
    assert response["Location"].startswith(f"{sso.issuer}/oauth2/authorize?") and query["prompt"] == ["none"]

    # Then when the provider answers that she may no longer sign in, her session ends
    ended = client.get("/accounts/sso/callback/", {"error": "login_required", "state": query["state"][0]})
    assert ended["Location"] == "/accounts/login/"
    assert client.get("/").status_code == 302


def test_a_password_session_is_never_sent_to_the_provider(
    client: Client, sso: Provider, editor: User
) -> None:
    client.force_login(editor)
    session = client.session
    session["oidc_id_token_expiration"] = time.time() - 1
    session.save()
    assert client.get("/markets/").status_code == 200
