"""Sam's journey in Debian's Chromium: a partner passes 80 % of its quota, the bell in the header
lights up on its next minute poll (without reloading the page), he opens the alert and tops the
quota up from the key's page."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import User
from accounts.partners.models import KeyUsage, QuotaTopUp
from accounts.partners.services import IssuedKey
from portal.notifications.services import notifications_detect
from tests.browser import SCREENSHOTS, new_page

pytestmark = pytest.mark.e2e


@pytest.fixture
def page(chromium: Any, live_server: Any, admin_user: User) -> Iterator[Any]:
    admin_user.set_password("pw-for-tests")
    admin_user.save()
    pages = new_page(chromium)
    browser_page = next(pages)
    browser_page.clock.install()
    browser_page.goto(f"{live_server.url}/accounts/login/")
    browser_page.fill("input[name=username]", "admin")
    browser_page.fill("input[name=password]", "pw-for-tests")
    browser_page.keyboard.press("Enter")
    browser_page.wait_for_url(f"{live_server.url}/")
    yield browser_page
    pages.close()


def test_the_bell_lights_up_when_a_partner_passes_80_percent(
    page: Any, live_server: Any, issue: Callable[..., IssuedKey]
) -> None:
    # Given Sam on the dashboard, with nothing unread
    key = issue().key
    bell = page.locator("#notification-bell")
    bell.wait_for()
    assert page.locator("#notification-count").count() == 0
    # When the partner's key passes 80 % of its 20,000-a-month quota and the job runs
    KeyUsage.objects.create(key=key, day=timezone.now().date(), used=17_000, remaining=3_000)
    [alert] = notifications_detect()
    assert alert.data["threshold"] == 80
    # Then within a minute (the bell's poll), without a reload, the bell shows 1 unread
    page.clock.fast_forward("01:05")
    page.locator("#notification-count").filter(has_text="1").wait_for()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "notifications-bell.png"))
    # When he opens the inbox and the alert, then he lands on the key's page and it is read
    bell.click()
    page.get_by_role("button", name="Optus passed 80 % of its quota (Optus TV app)").click()
    page.wait_for_url(f"{live_server.url}/partners/keys/{key.pk}/")
    # When he tops the key up by 5,000 with a reason
    page.get_by_role("link", name="Top up…").click()
    page.get_by_label("Extra requests").fill("5000")
    page.get_by_label("Reason").fill("Optus launch week")
    page.get_by_role("button", name="Top up", exact=True).click()
    # Then the key's page confirms it, the top-up is stored, and the bell has nothing unread
    page.wait_for_url(f"{live_server.url}/partners/keys/{key.pk}/")
    page.get_by_text("topped up by 5,000 requests").wait_for()
    assert list(QuotaTopUp.objects.filter(key=key).values_list("amount", "reason")) == [
        (5000, "Optus launch week")
    ]
    page.goto(f"{live_server.url}/notifications/")
    assert page.locator("#notification-count").count() == 0
