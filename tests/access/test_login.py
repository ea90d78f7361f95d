"""Login, logout and what each role sees after logging in."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import User
from markets.models import Market

pytestmark = pytest.mark.django_db


def test_login_page_is_styled_not_the_admin(client: Client) -> None:
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Log in to Meridian" in html
    assert "meridian.css" in html
    assert 'name="csrfmiddlewaretoken"' in html


def test_dashboard_requires_login(client: Client) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_wrong_password_shows_an_error(client: Client, editor: User) -> None:
    response = client.post("/accounts/login/", {"username": "editor", "password": "wrong"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


def test_login_then_logout(client: Client, editor: User) -> None:
    response = client.post("/accounts/login/", {"username": "editor", "password": "pw-for-tests"})
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert client.get("/").status_code == 302


def test_logout_by_get_is_refused(client: Client, editor: User) -> None:
    # CSRF protection: logging out needs a POST
    client.force_login(editor)
    assert client.get("/accounts/logout/").status_code == 405


def test_market_manager_dashboard_lists_only_their_markets(
    client: Client, au_manager: User, de: Market
) -> None:
    client.force_login(au_manager)
    html = client.get("/").content.decode()
    assert "AU-OPTUS" in html
    assert "Germany" not in html


def test_reviewer_dashboard_shows_no_markets(client: Client, reviewer: User, au: Market) -> None:
    client.force_login(reviewer)
    html = client.get("/").content.decode()
    assert "Australia" not in html
