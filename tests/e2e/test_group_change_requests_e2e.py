"""Group change requests in a real browser: Lukas, manager of DACH, adds a hide rule on the group
page; DE's approval policy reviews rules, so it becomes a group request he submits; an admin finds
it waiting for review, previews it per member and approves; the rule is live in the group."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import Membership, Role
from content.models import ContentItem
from markets.groups.services import group_create
from markets.models import GroupRule
from portal.change_requests.models import ChangeRequest, RequestState
from portal.change_requests.services import policy_set
from tests.browser import log_in, new_page, shot
from tests.factories import MarketFactory, UserFactory

pytestmark = pytest.mark.e2e
PASSWORD = "pw-for-e2e"


def test_a_group_rule_change_becomes_a_request_that_an_admin_approves(
    live_server: Any, chromium: Any, transactional_db: None
) -> None:
    from playwright.sync_api import expect

    base = live_server.url
    members = [
        MarketFactory(code=code, name=name, timezone=zone)
        for code, name, zone in (
            ("DE", "Germany", "Europe/Berlin"),
            ("AT", "Austria", "Europe/Vienna"),
            ("CH", "Switzerland", "Europe/Zurich"),
        )
    ]
    dach = group_create(
        actor=None, code="DACH", name="Germany, Austria, Switzerland", priority=10, members=members
    )
    now = timezone.now()
    ContentItem.objects.bulk_create(
        ContentItem(
            upstream_id=f"alps-{n}",
            content_type="article",
            title=f"Alps story {n}",
            source="tabloid" if n < 2 else "natgeo-editorial",
            language="de",
            published_at=now - timedelta(hours=n + 1),
        )
        for n in range(5)
    )
    admin = UserFactory(username="sam", first_name="Sam")
    admin.set_password(PASSWORD)
    admin.save()
    Membership.objects.create(user=admin, role=Role.ADMIN, market=None)
    lukas = UserFactory(username="lukas", first_name="Lukas")
    lukas.set_password(PASSWORD)
    lukas.save()
    Membership.objects.create(user=lukas, role=Role.MARKET_MANAGER, group=dach)
    # DE reviews its rules: a group rule must not slip past that
    policy_set(actor=admin, market=members[0], approvals_required=1, rules=True)

    # Lukas adds a hide rule on the group page: the form says it needs approval
    lukas_page = next(lukas_pages := new_page(chromium, width=1366, height=900))
    log_in(lukas_page, base, "lukas", PASSWORD)
    lukas_page.goto(f"{base}/groups/DACH/")
    expect(lukas_page.locator("#group-approvals")).to_contain_text("rule changes need 1 approval (DE)")
    lukas_page.goto(f"{base}/groups/DACH/rules/new/")
    expect(lukas_page.locator("#needs-approval")).to_contain_text("needs 1 approval")
    lukas_page.locator("input[name=action][value=hide]").check()
    lukas_page.fill("input[name=match_sources]", "tabloid")
    lukas_page.get_by_role("button", name="Add rule").click()
    expect(lukas_page.locator("#messages")).to_contain_text("needs approval in group DACH")
    assert not GroupRule.objects.exists()
    lukas_page.fill("#id_title", "No tabloids in DACH")
    lukas_page.click("#save-submit")
    expect(lukas_page.locator("#request-state")).to_have_text("Submitted")
    expect(lukas_page.locator("#approve")).to_have_count(0)
    cr = ChangeRequest.objects.get()
    assert cr.group_id == dach.pk and cr.approvals_required == 1

    # The admin finds it waiting for review, previews it per member and approves
    sam_page = next(sam_pages := new_page(chromium, width=1366, height=900))
    log_in(sam_page, base, "sam", PASSWORD)
    expect(sam_page.locator("#review-queue")).to_contain_text("No tabloids in DACH")
    sam_page.click("#review-queue >> text=No tabloids in DACH")
    expect(sam_page.locator("#request-group")).to_have_text("DACH")
    expect(sam_page.locator("#diff")).to_contain_text("New group rule")
    expect(sam_page.locator("#preview-members")).to_contain_text("CH")
    sam_page.click("#preview-members >> text=CH")
    expect(sam_page.locator("#preview-title")).to_contain_text("CH with and without this request")
    expect(sam_page.locator("#preview-changes")).to_contain_text("alps-0 vanishes")
    shot(sam_page, "e2e-group-cr-1-review")
    sam_page.click("#approve")
    expect(sam_page.locator("#request-state")).to_have_text("Applied")
    cr.refresh_from_db()
    assert cr.state == RequestState.APPLIED
    assert GroupRule.objects.get(group=dach).match_sources == ["tabloid"]
    for gen in (lukas_pages, sam_pages):
        gen.close()
