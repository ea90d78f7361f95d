"""Sam's journey in a real browser (Debian's Chromium): issue a key, copy it from the one-time
dialog, rotate it, find the chart. Screenshots go to test-artifacts/screenshots/ (git-ignored)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from accounts.models import User
from accounts.partners.models import Partner, PartnerApiKey, UsagePlan
from tests.browser import SCREENSHOTS, new_page

pytestmark = pytest.mark.e2e


@pytest.fixture
def page(chromium: Any, live_server: Any, admin_user: User) -> Iterator[Any]:
    admin_user.set_password("pw-for-tests")
    admin_user.save()
    pages = new_page(chromium)
    browser_page = next(pages)
    browser_page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    browser_page.goto(f"{live_server.url}/accounts/login/")
    browser_page.fill("input[name=username]", "admin")
    browser_page.fill("input[name=password]", "pw-for-tests")
    browser_page.keyboard.press("Enter")
    browser_page.wait_for_url(f"{live_server.url}/")
    yield browser_page
    pages.close()


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"partners-{name}.png"), full_page=True)


def test_issue_copy_rotate_with_the_keyboard(
    page: Any, live_server: Any, partner: Partner, plan: UsagePlan
) -> None:
    # Given Sam on the keys page, he opens "Issue a key" and fills the form with the keyboard
    page.goto(f"{live_server.url}/partners/keys/")
    page.get_by_role("link", name="Issue a key").click()
    page.get_by_label("Partner", exact=True).select_option(label="Optus")
    page.get_by_label("Usage plan").select_option(label="Partner Gold")
    page.get_by_label("Name", exact=True).fill("Optus TV app")
    page.get_by_label("Name", exact=True).press("Enter")

    # Then a modal dialog shows the secret once, with a Copy button that copies it
    dialog = page.locator("dialog[data-one-time-secret]")
    dialog.get_by_role("button", name="Copy").wait_for()  # shown once partners.js has run
    assert page.evaluate("document.querySelector('dialog[data-one-time-secret]').matches(':modal')")
    secret = page.get_by_label("API key for Partner Gold").input_value()
    key = PartnerApiKey.objects.get()
    assert secret.startswith(key.prefix) and len(secret) >= 40
    page.keyboard.press("Escape")  # Escape must not lose the secret
    assert dialog.is_visible()
    shot(page, "secret-dialog")
    dialog.get_by_role("button", name="Copy").click()
    status = dialog.locator("[data-copy-status]")
    status.filter(has_text="Copied to the clipboard.").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == secret
    dialog.get_by_role("link", name="I have stored it").click()

    # The partner's app calls the probe a few times; Sam refreshes usage on the keys page
    for _ in range(3):
        assert page.request.get(f"{live_server.url}/partners/probe/", headers={"x-api-key": secret}).ok
    page.goto(f"{live_server.url}/partners/keys/")
    page.get_by_role("button", name="Refresh usage").click()
    page.get_by_text("today 3 · period 3 / 20,000 (0%)").wait_for()
    page.get_by_role("link", name=key.display).click()

    # When he rotates it with a 24 h grace
    page.wait_for_url(f"{live_server.url}/partners/keys/{key.pk}/")
    assert secret not in page.content()
    assert page.locator("svg[role=img] rect.bar").count() == 30
    shot(page, "key-detail")
    page.get_by_role("link", name="Rotate…").click()
    page.get_by_label("24 hours").check()
    page.get_by_role("button", name="Rotate key").click()
    new_secret = page.get_by_label("API key for Partner Gold").input_value()
    assert new_secret != secret
    assert "keeps working until" in dialog.inner_text()
    dialog.get_by_role("link", name="I have stored it").click()
    page.goto(f"{live_server.url}/partners/keys/")
    shot(page, "keys-table")
    assert page.get_by_role("table").locator("tbody tr").count() == 2
    for name in ("plans", "list", "alerts"):
        page.goto(f"{live_server.url}/partners/{'' if name == 'list' else name + '/'}")
        shot(page, name)
