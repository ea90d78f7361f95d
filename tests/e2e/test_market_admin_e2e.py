"""Sam (admin) creates the partner edition DE-TELEKOM as opt-in, copying DE's rules, grants Lukas
(DE's market manager) a role on it on his user's page, and Lukas then finds it among his markets."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.models import Membership, Role, User
from markets.models import Market, Rule
from portal.audit.models import AuditEntry
from tests.browser import log_in, new_page, shot
from tests.factories import MarketFactory, RuleFactory, TagFactory, UserFactory

pytestmark = pytest.mark.e2e
PASSWORD = "pw-for-e2e"


def person(username: str, first_name: str, *grants: tuple[str, Market | None], staff: bool = False) -> User:
    user = UserFactory(username=username, first_name=first_name, is_staff=staff, is_superuser=staff)
    user.set_password(PASSWORD)
    user.save()
    for role, market in grants:
        Membership.objects.create(user=user, role=role, market=market)
    return user


@pytest.fixture
def germany(transactional_db: None) -> dict[str, Any]:
    """DE and AT with DE's two rules; Sam the admin and Lukas, manager of DE and AT."""
    de = MarketFactory(code="DE", name="Germany", languages=["de"], timezone="Europe/Berlin")
    at = MarketFactory(code="AT", name="Austria", languages=["de"], timezone="Europe/Vienna")
    TagFactory(slug="hunting")
    RuleFactory(market=de, action="hide", match_tags=["hunting"], note="German youth-protection review")
    RuleFactory(market=de, action="promote", boost=2, match_tags=[], match_content_types=["video"])
    sam = person("admin", "Sam", (Role.ADMIN, None), staff=True)
    lukas = person("de-manager", "Lukas", (Role.MARKET_MANAGER, de), (Role.MARKET_MANAGER, at))
    return {"de": de, "sam": sam, "lukas": lukas}


def test_sam_creates_de_telekom_from_de_and_grants_lukas(
    live_server: Any, chromium: Any, germany: dict[str, Any]
) -> None:
    from playwright.sync_api import expect

    base = live_server.url
    pages = new_page(chromium, width=1366, height=900)
    page = next(pages)
    try:
        # Given Sam, an admin, on the market list
        log_in(page, base, "admin", PASSWORD)
        page.click("nav[aria-label=Main] >> text=Markets")
        # When he starts a new market copying DE, from DE's row
        page.click("a[aria-label='New market copying DE']")
        expect(page.locator("h1")).to_have_text("New market or partner edition")
        expect(page.locator("#id_copy_rules_from")).to_have_value("DE")
        # And names the partner edition, opt-in
        page.fill("#id_code", "DE-TELEKOM")
        page.fill("#id_name", "Telekom (Germany) partner edition")
        page.check("input[name=default_visibility][value=opt_in]")
        shot(page, "e2e-markets-1-new-1366")
        page.click("button:has-text('Create market')")
        # Then DE-TELEKOM's page shows it opt-in, with DE's rules as its own
        expect(page.locator("h1")).to_have_text("DE-TELEKOM — Telekom (Germany) partner edition")
        expect(page.locator(".messages, [role=status]").first).to_contain_text("2 rule(s) copied from DE")
        expect(page.locator(".market-head .badge")).to_have_text("opt-in")
        expect(page.locator("#rules tbody tr")).to_have_count(2)
        expect(page.locator("#rules")).to_contain_text("German youth-protection review")
        shot(page, "e2e-markets-2-created-1366")
        telekom = Market.objects.get(code="DE-TELEKOM")
        assert telekom.is_opt_in and telekom.timezone == "Europe/Berlin"
        assert sorted(Rule.objects.filter(market=telekom).values_list("match_tags", flat=True)) == [
            [],
            ["hunting"],
        ]

        # When he gives Lukas the market manager role on it, on Lukas's user page
        lukas: User = germany["lukas"]
        page.goto(f"{base}/django-admin/accounts/user/{lukas.pk}/change/")
        page.click("text=Add another Membership")
        row = page.locator("tr.dynamic-memberships").last
        row.locator("select[name$='-role']").select_option("market_manager")
        row.locator("select[name$='-market']").select_option(label=str(telekom))
        shot(page, "e2e-markets-3-grant-1366")
        page.click("input[name=_save]")
        expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
        assert Membership.objects.filter(user=lukas, role=Role.MARKET_MANAGER, market=telekom).exists()
        assert AuditEntry.objects.filter(action="membership.grant", market_code="DE-TELEKOM").count() == 1
    finally:
        pages.close()

    # Then Lukas, on his phone, finds DE-TELEKOM among his markets, with its rules
    for width in (390, 1366):
        pages = new_page(chromium, width=width, height=844 if width < 500 else 900)
        page = next(pages)
        try:
            log_in(page, base, "de-manager", PASSWORD)
            page.goto(f"{base}/markets/")
            rows = page.locator("table tbody tr th a")
            expect(rows).to_have_text(["AT", "DE", "DE-TELEKOM"])
            # (no admin actions for him)
            expect(page.locator("text=New market")).to_have_count(0)
            shot(page, f"e2e-markets-4-lukas-list-{width}")
            page.click("table >> text=DE-TELEKOM")
            expect(page.locator("#rules tbody tr")).to_have_count(2)
            expect(page.locator("text=Add a rule")).to_have_count(1)
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{width}px: the market page scrolls sideways by {overflow}px"
            shot(page, f"e2e-markets-5-lukas-telekom-{width}")
        finally:
            pages.close()


def test_admin_pages_fit_a_phone(live_server: Any, chromium: Any, germany: dict[str, Any]) -> None:
    from playwright.sync_api import expect

    base = live_server.url
    pages = new_page(chromium, width=390, height=844)
    page = next(pages)
    try:
        log_in(page, base, "admin", PASSWORD)
        for path, name in [
            ("/markets/", "list"),
            ("/markets/new/?copy=DE", "new"),
            ("/markets/DE/deactivate/", "deactivate"),
        ]:
            page.goto(base + path)
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at 390px"
            shot(page, f"e2e-markets-phone-{name}-390")
        # And deactivating DE from the phone marks it inactive
        page.click("button:has-text('Deactivate DE')")
        expect(page.locator(".market-head")).to_contain_text("inactive")
        shot(page, "e2e-markets-phone-deactivated-390")
        assert not Market.objects.get(code="DE").active
    finally:
        pages.close()
