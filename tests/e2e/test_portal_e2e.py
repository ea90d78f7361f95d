"""The editors' portal in a real browser: board → item → preview, rules, bulk promotion."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from accounts.models import Membership, Role
from content.models import ContentItem, ItemTag, Position
from markets.models import Market, Rule
from tests.browser import log_in, shot
from tests.factories import MarketFactory, TagFactory, UserFactory

pytestmark = pytest.mark.e2e
PASSWORD = "pw-for-e2e"


@pytest.fixture
def catalogue(transactional_db: None) -> dict[str, Market]:
    """AU, US and DE; 30 recent items (ten videos tagged ocean, the rest articles tagged hunting)."""
    markets = {
        "AU": MarketFactory(code="AU", name="Australia", timezone="Australia/Sydney"),
        "US": MarketFactory(code="US", name="United States", timezone="America/New_York"),
        "DE": MarketFactory(code="DE", name="Germany", languages=["de"], timezone="Europe/Berlin"),
    }
    ocean, hunting = TagFactory(slug="ocean"), TagFactory(slug="hunting")
    now = timezone.now()
    items = ContentItem.objects.bulk_create(
        ContentItem(
            upstream_id=f"ng-{n:03d}",
            content_type="video" if n % 3 == 0 else "article",
            title=f"{'Whales of the deep' if n % 3 == 0 else 'Field notes'} {n}",
            source="natgeo-tv",
            language="en",
            published_at=now - timedelta(hours=n + 1),
            upstream_tags=["ocean"] if n % 3 == 0 else ["hunting"],
        )
        for n in range(30)
    )
    ItemTag.objects.bulk_create(
        ItemTag(item=i, tag=ocean if i.content_type == "video" else hunting) for i in items
    )
    return markets


def person(username: str, *grants: tuple[str, Market | None]) -> Any:
    user = UserFactory(username=username, first_name=username.title())
    user.set_password(PASSWORD)
    user.save()
    for role, market in grants:
        Membership.objects.create(user=user, role=role, market=market)
    return user


def test_editor_hides_an_item_in_au_with_a_window_and_checks_both_previews(
    live_server: Any, browser_page: Any, catalogue: dict[str, Market]
) -> None:
    from playwright.sync_api import expect

    page, base = browser_page, live_server.url
    person("mia", (Role.EDITOR, None))
    # Given Mia is logged in
    log_in(page, base, "mia", PASSWORD)
    shot(page, "e2e-editor-1-dashboard")
    # When she filters the board to videos in AU
    page.click("nav[aria-label=Main] >> text=Content")
    page.select_option("#id_market", "AU")
    page.check("input[name=type][value=video]")
    expect(page.locator("#board-results tbody tr")).to_have_count(10)
    assert "type=video" in page.url
    shot(page, "e2e-editor-2-board-filtered")
    # And opens the first video and hides it in AU for a week, in Sydney time
    page.click("#board-results >> text=Whales of the deep 0")
    expect(page.locator("h1")).to_have_text("Whales of the deep 0")
    page.click("#cell-AU >> text=Change")
    form = page.locator("#cell-AU form")
    form.locator("input[name=state][value=hidden]").check()
    sydney = datetime.now(ZoneInfo("Australia/Sydney")).replace(second=0, microsecond=0)
    form.locator("input[name=starts_at]").fill(f"{sydney - timedelta(hours=1):%Y-%m-%dT%H:%M}")
    form.locator("input[name=ends_at]").fill(f"{sydney + timedelta(days=7):%Y-%m-%dT%H:%M}")
    form.locator("input[name=reason]").fill("Legal note")
    shot(page, "e2e-editor-3-item-cell-form")
    form.locator("button[type=submit]").click()
    # Then the AU row says hidden, why, and until when (AU time)
    row = page.locator("#cell-AU")
    expect(row.locator(".badge")).to_have_text("hidden")
    expect(row).to_contain_text("Hidden by position (mia, 'Legal note')")
    expect(row).to_contain_text(f"until {sydney + timedelta(days=7):%d %b %Y, %H:%M}")
    expect(page.locator("#messages")).to_contain_text("ng-000 in AU: hidden.")
    shot(page, "e2e-editor-4-item-hidden-in-au")
    position = Position.objects.get(market__code="AU", item__upstream_id="ng-000")
    assert position.ends_at == (sydney + timedelta(days=7)).astimezone(UTC)
    # And AU's preview lists it as hidden, with the reason, not among what users see
    page.goto(f"{base}/markets/AU/preview/")
    page.check("#id_hidden")
    hidden = page.locator("#preview-hidden")
    expect(hidden).to_contain_text("ng-000")
    expect(hidden).to_contain_text("Hidden by position (mia, 'Legal note')")
    expect(page.locator("#preview-visible")).not_to_contain_text("ng-000")
    shot(page, "e2e-editor-5-preview-au")
    # And US's preview still shows it
    page.goto(f"{base}/markets/US/preview/")
    expect(page.locator("#preview-visible")).to_contain_text("ng-000")
    shot(page, "e2e-editor-6-preview-us")


def test_market_manager_adds_a_hide_by_tag_rule_in_au_and_is_refused_in_de(
    live_server: Any, browser_page: Any, catalogue: dict[str, Market]
) -> None:
    from playwright.sync_api import expect

    page, base = browser_page, live_server.url
    person("ana", (Role.MARKET_MANAGER, catalogue["AU"]))
    log_in(page, base, "ana", PASSWORD)
    # Given Ana manages AU only: the markets page lists AU alone
    page.click("nav[aria-label=Main] >> text=Markets")
    expect(page.locator("table tbody tr")).to_have_count(1)
    shot(page, "e2e-manager-1-markets")
    # When she adds a rule hiding everything tagged hunting in AU
    page.click("table a:text-is('AU')")
    page.click("text=Add a rule")
    page.check("input[name=action][value=hide]")
    page.fill("#id_match_tags", "hunting")
    page.fill("#id_note", "Youth protection review")
    shot(page, "e2e-manager-2-rule-form")
    page.click("button:has-text('Add rule')")
    # Then the rule is listed with its note and a success message
    expect(page.locator("#messages")).to_contain_text("added to AU: hide tags hunting")
    expect(page.locator("#rules")).to_contain_text("Youth protection review")
    shot(page, "e2e-manager-3-rule-added")
    assert Rule.objects.filter(market__code="AU", match_tags=["hunting"], author__username="ana").exists()
    # And AU's preview hides the hunting articles with the rule as the reason
    page.goto(f"{base}/markets/AU/preview/?hidden=on")
    expect(page.locator("#preview-hidden")).to_contain_text("Hidden by rule #")
    # When she tries DE's rule editor, she is refused clearly
    response = page.goto(f"{base}/markets/DE/rules/new/")
    assert response is not None and response.status == 403
    expect(page.locator("[role=alert]")).to_contain_text("not allowed to edit rules in market DE")
    shot(page, "e2e-manager-4-refused-de")
    assert not Rule.objects.filter(market__code="DE").exists()


def test_bulk_promote_of_200_filtered_items_in_two_markets(
    live_server: Any, browser_page: Any, catalogue: dict[str, Market]
) -> None:
    from playwright.sync_api import expect

    page, base = browser_page, live_server.url
    # Given 200 more clips tagged ocean (and the 30 items that are not clips)
    now = timezone.now()
    ContentItem.objects.bulk_create(
        ContentItem(
            upstream_id=f"clip-{n:03d}",
            content_type="clip",
            title=f"Ocean clip {n}",
            source="natgeo-tv",
            language="en",
            published_at=now - timedelta(days=2, minutes=n),
        )
        for n in range(200)
    )
    person("mia", (Role.EDITOR, None))
    log_in(page, base, "mia", PASSWORD)
    # When Mia filters the board to clips and selects everything matching the filter
    page.goto(f"{base}/content/?market=AU")
    page.check("input[name=type][value=clip]")
    # The filter reloads the results (and the count beside them): count once that has landed,
    # or a slow reload swaps the fresh count back to its button.
    page.wait_for_load_state("networkidle")
    expect(page.locator("#board-results tbody tr")).to_have_count(50)
    page.click("text=Count matches")
    expect(page.locator("#match-count")).to_contain_text("200 matching items")
    page.check("input[name=all_matching]")
    expect(page.locator("#selection-count")).to_contain_text("All items matching the filter")
    # And promotes them with boost 3 in AU and US for Ocean Week
    page.check("#bulk-markets input[value=US]")
    page.check("#bulk-form input[name=action][value=promote]")
    page.fill("#bulk-boost", "3")
    page.fill("#bulk-reason", "Ocean Week")
    shot(page, "e2e-bulk-1-selection")
    page.click("#bulk-form button[type=submit]")
    # Then the summary says 400 positions set, none refused, and the board shows the new state
    summary = page.locator("#bulk-summary")
    expect(summary).to_contain_text("400 positions set, 0 unchanged, 0 refused")
    expect(page.locator("#board-results tbody tr").first).to_contain_text("Promoted by position with boost 3")
    shot(page, "e2e-bulk-2-summary")
    assert Position.objects.filter(state="promoted", boost=3, reason="Ocean Week").count() == 400
    assert set(Position.objects.values_list("market__code", flat=True).distinct()) == {"AU", "US"}
