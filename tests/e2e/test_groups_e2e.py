"""Mia promotes 40 items across the EU for a week in one bulk action; every EU market shows them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import Membership, Role
from content.models import ContentItem, GroupPosition, Position
from markets.groups.services import group_create
from tests.browser import log_in, shot
from tests.factories import MarketFactory, UserFactory

pytestmark = pytest.mark.e2e
PASSWORD = "pw-for-e2e"


def test_mia_promotes_40_items_across_the_eu_and_every_member_previews_them(
    live_server: Any, browser_page: Any, transactional_db: None
) -> None:
    from playwright.sync_api import expect

    page, base = browser_page, live_server.url
    # Given the EU group (DE, FR, AT), 40 galleries and 20 other items, and Mia, an editor everywhere
    members = [
        MarketFactory(code=code, name=name, timezone=zone)
        for code, name, zone in (
            ("DE", "Germany", "Europe/Berlin"),
            ("FR", "France", "Europe/Paris"),
            ("AT", "Austria", "Europe/Vienna"),
        )
    ]
    MarketFactory(code="US", name="United States", timezone="America/New_York")
    group_create(actor=None, code="EU", name="European Union", priority=20, members=members)
    now = timezone.now()
    ContentItem.objects.bulk_create(
        ContentItem(
            upstream_id=f"ocean-{n:02d}",
            content_type="gallery" if n < 40 else "article",
            title=f"Ocean Week {n}" if n < 40 else f"Other story {n}",
            source="natgeo-editorial",
            language="en",
            published_at=now - timedelta(hours=n),
        )
        for n in range(60)
    )
    mia = UserFactory(username="mia")
    mia.set_password(PASSWORD)
    mia.save()
    Membership.objects.create(user=mia, role=Role.EDITOR, market=None)
    log_in(page, base, "mia", PASSWORD)

    # When she selects the 40 galleries on the board and promotes them in the group EU for a week
    page.goto(f"{base}/content/?market=DE")
    page.check("input[name=type][value=gallery]")
    page.click("text=Count matches")
    expect(page.locator("#match-count")).to_contain_text("40 matching items")
    page.check("input[name=all_matching]")
    page.uncheck("#bulk-markets input[value=DE]")
    page.check("#bulk-groups input[value=EU]")
    page.check("#bulk-form input[name=action][value=promote]")
    page.fill("#bulk-boost", "5")
    # Group windows are in UTC (the panel says so)
    page.fill("#bulk-ends", (now + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M"))
    page.fill("#bulk-reason", "Ocean Week")
    shot(page, "e2e-groups-1-bulk-to-eu")
    page.click("#bulk-form button[type=submit]")

    # Then one group position per item is written (not one per member), and no market position
    expect(page.locator("#bulk-summary")).to_contain_text("40 positions set")
    # and the board (showing DE, a member) says the group decided
    expect(page.locator("#board-results tbody tr").first).to_contain_text("Promoted by group EU position")
    shot(page, "e2e-groups-2-summary")
    assert GroupPosition.objects.filter(group__code="EU", state="promoted", boost=5).count() == 40
    assert not Position.objects.exists()

    # And every EU market's preview puts the 40 galleries first, saying the group decided
    for market in members:
        page.goto(f"{base}/markets/{market.code}/preview/")
        results = page.locator("#preview-results")
        expect(results).to_contain_text("Promoted by group EU position with boost 5")
        first_rows = page.locator("#preview-visible tbody tr").all_inner_texts()[:40]
        assert all("Ocean Week" in row for row in first_rows), market.code
        shot(page, f"e2e-groups-3-preview-{market.code}")
    # while the US, outside the group, shows them as plain items
    page.goto(f"{base}/markets/US/preview/")
    expect(page.locator("#preview-results")).not_to_contain_text("group EU")
