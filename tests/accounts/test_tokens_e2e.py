"""The API tokens page in a real browser: create, copy the one-time secret, use it, revoke it."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.models import ApiToken, Membership, Role
from tests.browser import log_in, shot
from tests.factories import MarketFactory, UserFactory

pytestmark = pytest.mark.e2e
PASSWORD = "pw-for-e2e"


def test_a_person_creates_copies_uses_and_revokes_a_token(
    live_server: Any, browser_page: Any, transactional_db: None
) -> None:
    from playwright.sync_api import expect

    # Given Mia, an editor, logged in
    MarketFactory(code="AU", name="Australia")
    mia = UserFactory(username="mia", first_name="Mia")
    mia.set_password(PASSWORD)
    mia.save()
    Membership.objects.create(user=mia, role=Role.EDITOR)
    page = browser_page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    log_in(page, live_server.url, "mia", PASSWORD)

    # When she opens "API tokens" from the header and creates one with the keyboard
    page.get_by_role("link", name="API tokens").click()
    expect(page.get_by_role("heading", name="API tokens")).to_be_visible()
    page.get_by_label("Name").fill("campaign calendar")
    page.get_by_label("Expires").select_option("90")
    page.get_by_label("Expires").press("Tab")
    with page.expect_navigation():
        page.keyboard.press("Enter")

    # Then the secret is shown once, with a working copy button
    secret_box = page.get_by_role("textbox", name="Secret")
    expect(secret_box).to_be_visible()
    secret = secret_box.input_value()
    assert secret.startswith("mrd_")
    page.get_by_role("button", name="Copy").click()
    expect(page.locator("#token-copy-status")).to_have_text("Copied to the clipboard.")
    assert page.evaluate("navigator.clipboard.readText()") == secret
    shot(page, "tokens-created")

    # And the secret works as `Authorization: Token …`
    api = page.context.request.get(
        f"{live_server.url}/api/v1/markets/", headers={"Authorization": f"Token {secret}"}
    )
    assert api.status == 200

    # And back on the list it is not shown again, and the token is listed as active
    page.get_by_role("link", name="back to my tokens").click()
    assert secret not in page.content()
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator("tbody tr .badge")).to_have_text("active")

    # When she revokes it, confirming the dialog
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revoke token campaign calendar").click()

    # Then it is revoked at once, and the API refuses the secret
    expect(page.locator("#messages")).to_contain_text("is revoked")
    expect(page.locator("tbody tr .badge")).to_have_text("revoked")
    assert ApiToken.objects.get().status == "revoked"
    refused = page.context.request.get(
        f"{live_server.url}/api/v1/markets/", headers={"Authorization": f"Token {secret}"}
    )
    assert refused.status == 401
    shot(page, "tokens-revoked")


def test_dismissing_the_confirmation_keeps_the_token(
    live_server: Any, browser_page: Any, transactional_db: None
) -> None:
    from accounts.services import api_token_create

    user = UserFactory(username="sam")
    user.set_password(PASSWORD)
    user.save()
    api_token_create(actor=None, user=user, name="pipeline")
    page = browser_page
    log_in(page, live_server.url, "sam", PASSWORD)
    page.goto(f"{live_server.url}/accounts/tokens/")

    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Revoke token pipeline").click()

    page.wait_for_timeout(300)
    assert ApiToken.objects.get().status == "active"
