"""One way to refuse, one way to fail: the styled 403 and its log line, the portal's 404 and 500
pages (also with DEBUG on), JSON under /api/, and redirects that never leave the site."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.test import Client, RequestFactory
from django.urls import reverse

from accounts.models import User
from markets.models import Market
from portal.pages import safe_next
from portal.views import server_error

REFUSAL_MARK = b"data-portal-refusal"
NOT_FOUND_MARK = b"data-portal-not-found"
EVIL = ["//evil.example", "https://evil.example", "/\\evil", "http://evil.example/labels/", "///evil.example"]


def _login(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- refusals ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_refusal_is_the_styled_page_that_says_why(nobody: User) -> None:
    # Given a user without the partners role
    # When they open a partners page (these answered Django's bare 403 before)
    response = _login(nobody).get("/partners/")
    # Then they get the portal's page that says what was refused
    assert response.status_code == 403
    assert REFUSAL_MARK in response.content and b"<html" in response.content
    assert b"You are not allowed to manage partners." in response.content
    assert b"<h1>403 Forbidden</h1>" not in response.content


@pytest.mark.django_db
def test_an_htmx_refusal_is_the_fragment(nobody: User) -> None:
    response = _login(nobody).get("/partners/alerts/", HTTP_HX_REQUEST="true")
    assert response.status_code == 403
    assert REFUSAL_MARK in response.content and b"<html" not in response.content


@pytest.mark.django_db
def test_a_refusal_is_logged_once_at_info_without_a_traceback(
    nobody: User, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a user without the reviewer role
    client = _login(nobody)
    # When they are refused the label queue
    with caplog.at_level(logging.DEBUG):
        response = client.get("/labels/?status=pending")
    assert response.status_code == 403
    # Then one INFO line on portal.access names the user, the path and the reason; nothing louder
    refusals = [r for r in caplog.records if r.name == "portal.access"]
    assert len(refusals) == 1
    record = refusals[0]
    assert record.levelno == logging.INFO
    assert record.exc_info is None
    message = record.getMessage()
    assert "nobody" in message and "/labels/?status=pending" in message
    assert "You are not allowed to review labels." in message
    assert (record.user, record.path, record.reason) == (  # type: ignore[attr-defined]  # set by extra=
        "nobody",
        "/labels/?status=pending",
        "You are not allowed to review labels.",
    )
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.django_db
def test_a_permission_denied_outside_portal_view_gets_the_styled_page(rf: RequestFactory) -> None:
    from django.contrib.auth.models import AnonymousUser
    from django.core.exceptions import PermissionDenied

    from portal.views import refused

    request = rf.get("/somewhere/")
    request.user = AnonymousUser()
    response = refused(request, PermissionDenied("Not today."))
    assert response.status_code == 403
    assert REFUSAL_MARK in response.content and b"Not today." in response.content


# --- not found -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_unknown_item_is_the_portals_404_even_with_debug_on(
    admin_user: User, au: Market, settings: Any
) -> None:
    # Given `make run`'s settings (DEBUG on) and an admin
    settings.DEBUG = True
    client = _login(admin_user)
    unknown = ("/markets/ZZ/", "/content/items/no-such-id/", "/partners/keys/987654/", "/labels/images/9876/")
    for url in unknown:
        # When they open an item that does not exist
        response = client.get(url)
        # Then they see the portal's 404 page, not Django's technical one
        assert response.status_code == 404, url
        assert NOT_FOUND_MARK in response.content and b"<html" in response.content
        assert b"technical_404" not in response.content and b"Using the URLconf" not in response.content


@pytest.mark.django_db
def test_an_htmx_404_is_the_fragment(admin_user: User, au: Market) -> None:
    response = _login(admin_user).get("/markets/ZZ/preview/", HTTP_HX_REQUEST="true")
    assert response.status_code == 404
    assert NOT_FOUND_MARK in response.content and b"<html" not in response.content


@pytest.mark.django_db
def test_an_unknown_url_is_the_portals_404(admin_user: User) -> None:
    response = _login(admin_user).get("/no-such-page/")
    assert response.status_code == 404
    assert NOT_FOUND_MARK in response.content and b"<html" in response.content


@pytest.mark.django_db
def test_an_unknown_api_url_stays_json(admin_user: User) -> None:
    for url in ("/api/no-such-thing/", "/api/v1/no-such-thing/"):
        response = _login(admin_user).get(url)
        assert response.status_code == 404
        assert response["Content-Type"].startswith("application/json")
        assert response.json() == {"detail": "Not found."}


# --- server errors -------------------------------------------------------------------------------


def test_the_500_page_needs_neither_the_database_nor_the_request(rf: RequestFactory) -> None:
    # No django_db mark: any query would fail this test.
    response = server_error(rf.get("/markets/AU/"))
    assert response.status_code == 500
    assert b"Something went wrong" in response.content and b"data-portal-error" in response.content
    assert b"/static/css/meridian.css" in response.content


def test_a_500_under_the_api_is_json(rf: RequestFactory) -> None:
    response = server_error(rf.get("/api/v1/markets/"))
    assert response.status_code == 500
    assert response["Content-Type"].startswith("application/json")


def test_the_handlers_are_the_portals() -> None:
    from portal import urls

    assert urls.handler403 == "portal.views.refused"
    assert urls.handler404 == "portal.views.missing"
    assert urls.handler500 == "portal.views.server_error"


# --- redirects -----------------------------------------------------------------------------------


@pytest.mark.parametrize("target", EVIL)
def test_safe_next_refuses_other_hosts(rf: RequestFactory, target: str) -> None:
    assert safe_next(rf.get("/"), target, "/fallback/") == "/fallback/"


@pytest.mark.parametrize("target", ["/labels/images/1/", "/partners/keys/?status=active", "/"])
def test_safe_next_keeps_pages_of_this_site(rf: RequestFactory, target: str) -> None:
    assert safe_next(rf.get("/"), target, "/fallback/") == target


@pytest.mark.django_db
@pytest.mark.parametrize("target", EVIL)
def test_the_label_pages_never_redirect_off_site(reviewer: User, target: str) -> None:
    # Given a reviewer posting a bulk decision with a hostile `next`
    response = _login(reviewer).post("/labels/bulk/", {"decision": "approve", "next": target})
    # Then they come back to the queue, not to the other host
    assert response.status_code == 302
    assert response["Location"] == reverse("labels:queue")


@pytest.mark.django_db
def test_the_label_pages_go_back_where_the_button_was(reviewer: User) -> None:
    response = _login(reviewer).post("/labels/bulk/", {"decision": "approve", "next": "/labels/jobs/"})
    assert response["Location"] == "/labels/jobs/"


@pytest.mark.django_db
@pytest.mark.parametrize("target", EVIL)
def test_the_usage_refresh_never_redirects_off_site(admin_user: User, settings: Any, target: str) -> None:
    from accounts.partners.gateway import set_gateway

    settings.GATEWAY_BACKEND = "local"
    set_gateway(None)
    response = _login(admin_user).post("/partners/usage/refresh/", {"next": target})
    set_gateway(None)
    assert response.status_code == 302
    assert response["Location"] == reverse("partners:keys")


@pytest.mark.django_db
def test_an_anonymous_htmx_request_logs_in_and_comes_back_encoded() -> None:
    response = Client().get("/markets/AU/preview/", HTTP_HX_REQUEST="true")
    assert response["HX-Redirect"] == "/accounts/login/?next=%2Fmarkets%2FAU%2Fpreview%2F"
