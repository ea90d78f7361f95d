"""Issue #14 journeys in a real browser: Lukas makes DE's hunting rule binding and an editor's
"show" no longer shows the item; an item denied in FR cannot be shown there by anyone."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import Membership, Role
from content.models import ContentItem, ItemTag
from markets.models import Market, Rule
from tests.browser import log_in, shot
from tests.factories import MarketFactory, RuleFactory, TagFactory, UserFactory

pytestmark = pytest.mark.e2e
PASSWORD = "pw-for-e2e"


@pytest.fixture
def catalogue(transactional_db: None) -> dict[str, Any]:
    markets = {
        "DE": MarketFactory(code="DE", name="Germany", languages=["de"], timezone="Europe/Berlin"),
        "FR": MarketFactory(code="FR", name="France", languages=["fr"], timezone="Europe/Paris"),
    }
    hunting, polar = TagFactory(slug="hunting"), TagFactory(slug="polar")
    now = timezone.now()
    hunt = ContentItem.objects.create(
        upstream_id="hunt-1",
        content_type="article",
        title="Hunting season in the Alps",
        source="natgeo-editorial",
        language="de",
        published_at=now - timedelta(hours=1),
        upstream_tags=["hunting"],
    )
    doc = ContentItem.objects.create(
        upstream_id="doc-fr",
        content_type="video",
        title="Glaciers of the Alps",
        source="natgeo-tv",
        language="en",
        published_at=now - timedelta(hours=2),
        upstream_tags=["polar"],
        rights_deny=["FR"],
    )
    ItemTag.objects.create(item=hunt, tag=hunting)
    ItemTag.objects.create(item=doc, tag=polar)
    rule = RuleFactory(market=markets["DE"], action="hide", match_tags=["hunting"], note="Youth protection")
    return {"markets": markets, "rule": rule}


def person(username: str, *grants: tuple[str, Market | None]) -> Any:
    user = UserFactory(username=username, first_name=username.title())
    user.set_password(PASSWORD)
    user.save()
    for role, market in grants:
        Membership.objects.create(user=user, role=role, market=market)
    return user


def show_in(page: Any, market: str, reason: str) -> None:
    page.click(f"#cell-{market} >> text=Change")
    form = page.locator(f"#cell-{market} form")
    form.locator("input[name=state][value=shown]").check()
    form.locator("input[name=reason]").fill(reason)
    form.locator("button[type=submit]").click()


def test_lukas_makes_the_hunting_rule_binding_and_an_editors_show_no_longer_shows_the_item(
    live_server: Any, browser_page: Any, catalogue: dict[str, Any]
) -> None:
    from playwright.sync_api import expect

    page, base = browser_page, live_server.url
    rule: Rule = catalogue["rule"]
    person("mia", (Role.EDITOR, None))
    person("lukas", (Role.MARKET_MANAGER, catalogue["markets"]["DE"]))
    # Given Mia shows the hunting article in DE: her position beats the plain hide rule
    log_in(page, base, "mia", PASSWORD)
    page.goto(f"{base}/content/items/hunt-1/")
    show_in(page, "DE", "Alps week")
    expect(page.locator("#cell-DE .badge")).to_have_text("shown")
    page.context.clear_cookies()

    # When Lukas, DE's manager, marks the rule binding
    log_in(page, base, "lukas", PASSWORD)
    page.goto(f"{base}/markets/DE/rules/{rule.pk}/")
    expect(page.locator("form[data-dependent]")).to_contain_text("overrides editors' positions")
    page.check("#id_binding")
    shot(page, "e2e-binding-1-rule-form")
    page.click("button:has-text('Save rule')")
    # Then the rule list says it is binding and what that means
    expect(page.locator("#rules .badge.binding")).to_have_count(1)
    expect(page.locator("#rules")).to_contain_text("Binding: overrides editors' positions in DE.")
    shot(page, "e2e-binding-2-rules")
    page.context.clear_cookies()

    # And Mia's show no longer shows the item; the matrix explains why
    log_in(page, base, "mia", PASSWORD)
    page.goto(f"{base}/content/items/hunt-1/")
    row = page.locator("#cell-DE")
    expect(row.locator(".badge")).to_have_text("hidden")
    expect(row).to_contain_text(f"Hidden by rule #{rule.pk} (binding)")
    expect(row).to_contain_text("shown — overridden by a binding rule")
    shot(page, "e2e-binding-3-matrix")
    # And an editor never sees the binding checkbox (nor the rule editor)
    response = page.goto(f"{base}/markets/DE/rules/{rule.pk}/")
    assert response is not None and response.status == 403


def test_an_item_denied_in_fr_cannot_be_shown_there(
    live_server: Any, browser_page: Any, catalogue: dict[str, Any]
) -> None:
    from playwright.sync_api import expect

    page, base = browser_page, live_server.url
    person("sam", (Role.ADMIN, None))
    log_in(page, base, "sam", PASSWORD)
    page.goto(f"{base}/content/items/doc-fr/")
    # The item page says where it is licensed, and offers nothing to change it
    expect(page.locator("#rights")).to_contain_text("Not licensed in FR")
    # When even an admin shows it in FR, it stays hidden there, and DE shows it
    show_in(page, "FR", "Glacier week")
    row = page.locator("#cell-FR")
    expect(row.locator(".badge")).to_have_text("hidden")
    expect(row).to_contain_text("Not licensed in FR")
    expect(row).to_contain_text("shown — overridden: not licensed here")
    expect(page.locator("#cell-DE .badge")).to_have_text("visible")
    shot(page, "e2e-rights-1-matrix")
