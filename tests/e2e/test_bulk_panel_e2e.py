"""The board's bulk panel follows the board's market: ticks and the date note change with it."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.models import Membership, Role
from tests.browser import log_in, shot
from tests.factories import ContentItemFactory, MarketFactory, UserFactory

pytestmark = pytest.mark.e2e
PASSWORD = "pw-for-e2e"


def test_switching_the_board_market_moves_the_bulk_panel_tick_and_the_time_note(
    live_server: Any, browser_page: Any, transactional_db: None
) -> None:
    from playwright.sync_api import expect

    page, base = browser_page, live_server.url
    MarketFactory(code="GB", name="United Kingdom", timezone="Europe/London")
    MarketFactory(code="DE", name="Germany", timezone="Europe/Berlin")
    ContentItemFactory.create_batch(3)
    user = UserFactory(username="mia")
    user.set_password(PASSWORD)
    user.save()
    Membership.objects.create(user=user, role=Role.EDITOR, market=None)
    # Given Mia's board shows GB, with GB ticked in the bulk panel
    log_in(page, base, "mia", PASSWORD)
    page.goto(f"{base}/content/?market=GB")
    expect(page.locator("#bulk-markets input[value=GB]")).to_be_checked()
    expect(page.locator("#board-dates-note")).to_contain_text("GB time")
    # When she switches the board's market to DE
    page.select_option("#id_market", "DE")
    expect(page.locator("#board-results")).to_contain_text("In DE")
    # Then the panel acts on DE, not GB, and the note speaks of DE's time
    expect(page.locator("#bulk-markets input[value=DE]")).to_be_checked()
    expect(page.locator("#bulk-markets input[value=GB]")).not_to_be_checked()
    expect(page.locator("#board-dates-note")).to_contain_text("DE time")
    shot(page, "e2e-bulk-panel-follows-market")
