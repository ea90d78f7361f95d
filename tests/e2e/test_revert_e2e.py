"""Mia reverts a bulk promotion of 480 positions in one action, minus the 3 changed meanwhile."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from accounts.models import Membership, Role
from content.models import Position
from content.services import PositionChange, position_set, positions_bulk_set
from portal.audit.models import AuditEntry
from tests.browser import log_in, new_page, shot
from tests.factories import ContentItemFactory, MarketFactory, UserFactory

pytestmark = pytest.mark.e2e
PASSWORD = "pw-for-e2e"
CODES = ("AU", "DE", "AT", "GB", "FR", "IT", "ES", "NL", "SE", "NO", "DK", "FI")


def test_mia_reverts_a_bulk_promotion_minus_the_three_changed_meanwhile(
    live_server: Any, chromium: Any, transactional_db: None
) -> None:
    from playwright.sync_api import expect

    base = live_server.url
    markets = [MarketFactory(code=code, name=code) for code in CODES]
    items = ContentItemFactory.create_batch(40)
    mia = UserFactory(username="mia")
    mia.set_password(PASSWORD)
    mia.save()
    Membership.objects.create(user=mia, role=Role.EDITOR, market=None)
    lukas = UserFactory(username="lukas")
    Membership.objects.create(user=lukas, role=Role.EDITOR, market=None)
    # Given Mia's "Ocean Week" promotion: 40 items in 12 markets, 480 positions
    result = positions_bulk_set(
        actor=mia,
        markets=markets,
        item_ids=[i.pk for i in items],
        change=PositionChange(
            state="promoted", boost=3, ends_at=datetime.now(UTC) + timedelta(days=7), reason="Ocean Week"
        ),
    )
    assert result.changed == 480
    # and Lukas changed 3 of those positions since
    changed = [(markets[1], items[0]), (markets[1], items[1]), (markets[2], items[5])]
    for market, item in changed:
        position_set(
            actor=lukas, market=market, item=item, change=PositionChange(state="hidden", reason="legal")
        )

    # A look at the confirmation on a phone first, then the revert itself at 1366 px
    for width, height in ((390, 844), (1366, 900)):
        for page in new_page(chromium, width=width, height=height):
            log_in(page, base, "mia", PASSWORD)
            # When Mia opens the bulk change in the audit log and asks to revert it
            page.goto(f"{base}/audit/?batch={result.batch}")
            if width == 1366:
                shot(page, "e2e-revert-audit-log-1366")
            page.click("#revert-batch")
            # Then the confirmation says what will change and lists the 3 changed meanwhile
            expect(page.locator("#revert-will h2")).to_have_text("477 changes will be reverted")
            skipped = page.locator("#revert-changed-since")
            expect(skipped.locator("h2")).to_contain_text("3 changed since")
            expect(skipped.locator("tbody tr")).to_have_count(3)
            expect(skipped).to_contain_text("lukas")
            shot(page, f"e2e-revert-confirm-{width}")
            if width == 390:
                break
            # When she reverts, in one action
            page.click("#revert-form button[type=submit]")
            # Then 477 are reverted and the 3 are listed as left alone
            expect(page.locator("#revert-result h1")).to_have_text(
                "477 changes reverted, 3 skipped, 0 refused"
            )
            expect(page.locator("#revert-skipped li")).to_have_count(3)
            shot(page, f"e2e-revert-done-{width}")

    assert Position.objects.filter(state="promoted").count() == 0
    assert Position.objects.filter(state="hidden", author=lukas).count() == 3
    assert AuditEntry.objects.filter(reverts__batch=result.batch).count() == 477
