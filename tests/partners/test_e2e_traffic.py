"""Sam sizes a plan from evidence in a real browser: the key's traffic chart, the Fit panel, Apply.

Screenshots go to test-artifacts/screenshots/ (git-ignored).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest

from accounts.models import User
from accounts.partners.models import UsagePlan
from accounts.partners.services import IssuedKey
from tests.browser import SCREENSHOTS, new_page
from tests.partners.test_traffic_views import recent_traffic

pytestmark = pytest.mark.e2e


@pytest.fixture
def page(chromium: Any, live_server: Any, admin_user: User) -> Iterator[Any]:
    admin_user.set_password("pw-for-tests")
    admin_user.save()
    pages = new_page(chromium)
    browser_page = next(pages)
    browser_page.goto(f"{live_server.url}/accounts/login/")
    browser_page.fill("input[name=username]", "admin")
    browser_page.fill("input[name=password]", "pw-for-tests")
    browser_page.keyboard.press("Enter")
    browser_page.wait_for_url(f"{live_server.url}/")
    yield browser_page
    pages.close()


def test_from_the_key_to_its_traffic_and_applying_the_recommendation(
    page: Any, live_server: Any, issue: Callable[..., IssuedKey]
) -> None:
    # Given a key with half an hour of traffic: 2/s steady, a burst of 40 each minute
    key = issue().key
    recent_traffic(key, minutes=30)
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)

    # When Sam opens the key and follows "Traffic…"
    page.goto(f"{live_server.url}/partners/keys/{key.pk}/")
    page.get_by_role("link", name="Traffic…").click()
    page.wait_for_url(f"{live_server.url}/partners/keys/{key.pk}/traffic/")

    # Then the chart draws (styled by the stylesheet, no CSP complaint) and the Fit has evidence
    chart = page.locator("figure.traffic-chart svg")
    assert chart.is_visible()
    stroke = page.eval_on_selector("polyline.series.all", "el => getComputedStyle(el).stroke")
    assert stroke == "rgb(29, 79, 145)"
    assert "p95 steady 2 rps, peak burst 40" in page.locator(".evidence").inner_text()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "partners-traffic.png"), full_page=True)

    # When he applies the recommendation (rate 3, burst 44)
    page.get_by_role("button", name="Apply to Partner Gold").click()
    page.wait_for_url(f"{live_server.url}/partners/keys/{key.pk}/traffic/")

    # Then the plan changed and the page says so
    assert "now allows 3/s, burst 44" in page.content()
    plan = UsagePlan.objects.get(pk=key.plan_id)
    assert (plan.rate_limit, plan.burst_limit) == (Decimal("3"), 44)
    assert not [p for p in problems if "Content Security Policy" in p or "Refused" in p], problems
