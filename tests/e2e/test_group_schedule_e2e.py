"""Lukas, manager of DE, opens DACH's schedule from the group page: DACH's own windows in UTC and
DE's in Berlin time; then Sam (admin) reverts DACH's bulk change from the audit log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from accounts.models import Membership, Role
from content.models import GroupPosition
from content.services import PositionChange, group_positions_bulk_set, position_set
from markets.groups.services import group_create
from tests.browser import log_in, new_page, shot
from tests.factories import ContentItemFactory, MarketFactory, UserFactory

pytestmark = pytest.mark.e2e
PASSWORD = "pw-for-e2e"


def test_lukas_reads_dachs_schedule_and_sam_reverts_its_bulk_change(
    live_server: Any, chromium: Any, transactional_db: None
) -> None:
    from playwright.sync_api import expect

    base = live_server.url
    de = MarketFactory(code="DE", name="Germany", timezone="Europe/Berlin")
    at = MarketFactory(code="AT", name="Austria", timezone="Europe/Vienna")
    dach = group_create(actor=None, code="DACH", name="Germany, Austria", members=[de, at])
    users = {}
    for name, role, market in (("lukas", Role.MARKET_MANAGER, de), ("sam", Role.ADMIN, None)):
        user = UserFactory(username=name)
        user.set_password(PASSWORD)
        user.save()
        Membership.objects.create(user=user, role=role, market=market)
        users[name] = user
    promo, embargo, vienna = ContentItemFactory.create_batch(3)
    tomorrow = datetime.now(UTC).replace(hour=23, minute=30, second=0, microsecond=0) + timedelta(days=1)
    # Given DACH's promotion from 23:30 UTC tomorrow, DE's embargo lifting then, and AT's window
    result = group_positions_bulk_set(
        actor=users["sam"],
        group=dach,
        item_ids=[promo.pk],
        change=PositionChange(state="promoted", boost=2, starts_at=tomorrow, reason="Alpine week"),
    )
    position_set(actor=None, market=de, item=embargo, change=PositionChange(state="hidden", ends_at=tomorrow))
    position_set(
        actor=None,
        market=at,
        item=vienna,
        change=PositionChange(state="shown", starts_at=tomorrow + timedelta(days=2)),
    )

    for page in new_page(chromium, width=1366, height=900):
        log_in(page, base, "lukas", PASSWORD)
        # When Lukas opens DACH's page and its Schedule
        page.goto(f"{base}/groups/DACH/")
        page.click("#group-schedule-link")
        page.wait_for_url(f"{base}/schedule/groups/DACH/")
        # Then DACH's promotion is at 23:30 UTC and DE's embargo lifts then in Berlin time, on the next day
        events = page.locator(".schedule-event")
        expect(events).to_have_count(2)
        expect(events.nth(0)).to_contain_text("23:30")
        expect(events.nth(0)).to_contain_text("group DACH")
        expect(events.nth(1)).to_contain_text(
            tomorrow.astimezone(ZoneInfo("Europe/Berlin")).strftime("%H:%M")
        )
        expect(events.nth(1)).to_contain_text("Embargo lifts")
        expect(page.locator("#group-schedule-times")).to_contain_text(
            "Members you may not view are left out: AT."
        )
        shot(page, "e2e-group-schedule-1366")
        # When he keeps only DACH's own windows, then the list follows (HTMX, no reload)
        page.select_option("#id_market", "DACH")
        expect(page.locator(".schedule-event")).to_have_count(1)
        expect(page).to_have_url(f"{base}/schedule/groups/DACH/?market=DACH&kind=&edge=")

    for page in new_page(chromium, width=1366, height=900):
        log_in(page, base, "sam", PASSWORD)
        # When Sam reverts DACH's bulk change from the audit log
        page.goto(f"{base}/audit/?batch={result.batch}")
        page.click("#revert-batch")
        expect(page.locator("#revert-will h2")).to_have_text("1 change will be reverted")
        page.click("#revert-form button[type=submit]")
        # Then it is reverted
        expect(page.locator("#revert-result h1")).to_have_text("1 change reverted, 0 skipped, 0 refused")

    assert GroupPosition.objects.get().state == "default"
