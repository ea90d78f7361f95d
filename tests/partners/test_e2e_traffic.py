"""Sam sizes a plan from evidence in a browser: a key's traffic, a throttled method, the plan's Fit, Apply.

Screenshots go to test-artifacts/screenshots/ (git-ignored).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from accounts.models import Role, User
from accounts.partners.models import PartnerApiKey, UsagePlan
from accounts.partners.services import IssuedKey
from accounts.partners.traffic.aggregation import Request
from accounts.partners.traffic.services import traffic_ingest
from portal.audit.models import AuditEntry
from tests.browser import SCREENSHOTS, log_in, new_page, shot
from tests.conftest import _user
from tests.partners.test_traffic_views import recent_traffic

STAGE = "meridian:local"
FEED = "/feed/v1/{market}/GET"
PROBE = "/partners/probe/GET"

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

    # Then uPlot draws the chart (no CSP complaint), and hovering shows the minute's values
    page.wait_for_selector("#traffic-chart.drawn canvas")
    overlay = page.locator("#traffic-chart .u-over")
    box = overlay.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] - 3, box["y"] + box["height"] / 2)
    legend = page.locator("#traffic-chart .u-legend").inner_text()
    assert "All methods (mean/s)" in legend and "2.63/s" in legend and "Plan burst" in legend
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


def _last_14h(now: datetime) -> datetime:
    """14:00 UTC today if it is at least 5 minutes past, else yesterday's (inside a 24-hour window)."""
    today = now.replace(hour=14, minute=0, second=0, microsecond=0)
    return today if now >= today + timedelta(minutes=5) else today - timedelta(days=1)


def _throttled_at(key: PartnerApiKey, at: datetime) -> None:
    """10 minutes around `at` at 2 requests/s (feed and probe), except at `at` + 30 s: a feed burst
    of 620, of which the plan's burst (500) passes and 120 are throttled."""
    start, end = at - timedelta(minutes=5), at + timedelta(minutes=5)
    requests: list[Request] = []
    burst_at = at + timedelta(seconds=30)
    second = start
    while second < end:
        for n, method in enumerate((FEED, PROBE) if second != burst_at else ()):
            requests.append(Request(f"sam-{second:%H%M%S}-{n}", key.pk, STAGE, method, second, 200, "", 12.0))
        second += timedelta(seconds=1)
    for n in range(620):
        throttled = n >= 500
        requests.append(
            Request(
                f"sam-burst-{n}", key.pk, STAGE, FEED, burst_at, 429 if throttled else 200,
                "throttle" if throttled else "", 1.0 if throttled else 20.0,
            )
        )  # fmt: skip
    traffic_ingest(requests=requests, start=start, end=end)


@pytest.mark.parametrize("width", [1366, 390])
def test_sam_finds_a_throttled_method_and_applies_the_recommended_burst(
    chromium: Any, live_server: Any, issue: Callable[..., IssuedKey], width: int
) -> None:
    # Given Optus's key on Partner Gold (50/s, burst 500), whose feed burst to 620 at 14:00
    sam = _user("sam", (Role.ADMIN, None))
    sam.set_password("pw-for-tests")
    sam.save()
    key = issue().key
    at = _last_14h(datetime.now(UTC))
    _throttled_at(key, at)
    pages = new_page(chromium, width=width, height=900)
    try:
        _story(next(pages), live_server.url, key, at, sam)
    finally:
        pages.close()


def _story(page: Any, base: str, key: PartnerApiKey, at: datetime, sam: User) -> None:
    width = page.viewport_size["width"]
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    log_in(page, base, "sam", "pw-for-tests")

    # When Sam opens Optus's key from the keys list, then its traffic over 24 hours
    page.goto(f"{base}/partners/keys/")
    page.locator("table.partner-keys tbody tr", has_text="Optus TV app").locator("td a").first.click()
    page.wait_for_url(f"{base}/partners/keys/{key.pk}/")
    page.get_by_role("link", name="Traffic…").click()
    page.select_option("#traffic-hours", "24")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(f"{base}/partners/keys/{key.pk}/traffic/?hours=24")

    # Then the feed is listed as throttled at 14:00, with its burst of 620
    row = page.locator("table.refused-minutes tbody tr").filter(has_text=FEED)
    assert row.count() == 1
    cells = row.locator("td").all_inner_texts()
    assert cells == [f"{at:%Y-%m-%d} 14:00", FEED, "120", "0", "620", str(59 + 620)]
    page.locator("#methods").scroll_into_view_if_needed()
    shot(page, f"partners-traffic-throttled-{width}")

    # When he opens the Fit of Partner Gold
    page.get_by_role("link", name="Fit of Partner Gold").click()
    page.wait_for_url(f"{base}/partners/plans/{key.plan_id}/fit/")
    assert "peak burst 620 in the last 30 days" in page.locator(".evidence").inner_text()
    # the burst recommended: 620 + 10 % = 682
    assert page.input_value("#id_only-burst") == "682"
    shot(page, f"partners-plan-fit-{width}")
    no_sideways_scroll = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert no_sideways_scroll

    # And applies the recommended burst alone
    page.get_by_role("button", name="Apply burst to Partner Gold").click()
    page.wait_for_url(f"{base}/partners/plans/{key.plan_id}/fit/")

    # Then the plan changed through the plan editor's change: audited, rate and quota kept
    assert "Plan Partner Gold now allows 50/s, burst 682." in page.content()
    plan = UsagePlan.objects.get(pk=key.plan_id)
    assert (plan.rate_limit, plan.burst_limit, plan.quota_limit) == (Decimal("50"), 682, 20_000)
    entry = AuditEntry.objects.get(action="usage_plan.update")
    assert entry.actor == sam
    assert not [p for p in problems if "Content Security Policy" in p or "Refused" in p], problems
