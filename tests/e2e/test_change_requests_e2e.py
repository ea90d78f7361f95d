"""Change requests in a real browser: Ana submits the AU-OPTUS launch pins for Monday 06:00, Sam
reviews the market with and without them and approves, the job applies them at 06:00 and the feed
serves them; Ana cannot approve her own request."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from accounts.models import Membership, Role
from content.models import ContentItem
from markets.models import Market, Visibility
from portal.change_requests.models import ChangeRequest, RequestState
from portal.change_requests.services import policy_set
from portal.shared_tables import config
from portal.shared_tables.models import OutboxKind
from portal.shared_tables.outbox import outbox_enqueue, outbox_enqueue_many
from portal.shared_tables.publisher import drain
from tests.browser import log_in, new_page, shot
from tests.factories import MarketFactory, UserFactory
from tests.partner_keys import generous_partner_key

pytestmark = pytest.mark.e2e
PASSWORD = "pw-for-e2e"
SYDNEY = ZoneInfo("Australia/Sydney")


def person(username: str, first: str, role: str, market: Market | None) -> Any:
    user = UserFactory(username=username, first_name=first)
    user.set_password(PASSWORD)
    user.save()
    Membership.objects.create(user=user, role=role, market=market)
    return user


@pytest.fixture
def shared(settings: Any, tmp_path: Path) -> Iterator[None]:
    settings.SHARED_TABLES_BACKEND = "local"
    settings.SHARED_TABLES_LOCAL_PATH = tmp_path / "shared.sqlite3"
    config.forget()
    yield
    config.forget()


def next_monday_six() -> datetime:
    now = datetime.now(SYDNEY)
    days = (7 - now.weekday()) % 7 or 7
    return (now + timedelta(days=days)).replace(hour=6, minute=0, second=0, microsecond=0)


def test_ana_submits_launch_pins_sam_approves_and_the_job_applies_them_on_monday(
    live_server: Any, chromium: Any, transactional_db: None, shared: None, settings: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    base = live_server.url
    optus = MarketFactory(
        code="AU-OPTUS", name="Optus", timezone="Australia/Sydney", default_visibility=Visibility.OPT_IN
    )
    now = timezone.now()
    items = ContentItem.objects.bulk_create(
        ContentItem(
            upstream_id=f"ng-{n:03d}",
            content_type="video",
            title=f"Wild launch {n}",
            source="natgeo-tv",
            language="en",
            published_at=now - timedelta(hours=n + 1),
        )
        for n in range(8)
    )
    person("sam", "Sam", Role.ADMIN, None)
    ana = person("ana", "Ana", Role.MARKET_MANAGER, optus)
    policy_set(actor=ana, market=optus, approvals_required=1, rules=True, positions=True)
    outbox_enqueue(kind=OutboxKind.MARKET, key=optus.code, version=optus.version)
    outbox_enqueue_many(kind=OutboxKind.CONTENT, entries=[(i.upstream_id, i.version) for i in items])
    drain()
    monday = next_monday_six()

    # Ana pins the exclusive documentary and the premium series from the items' pages
    ana_page = next(pages := new_page(chromium, width=1366, height=900))
    log_in(ana_page, base, "ana", PASSWORD)
    for slot, item in ((1, items[3]), (2, items[5])):
        ana_page.goto(f"{base}/content/items/{item.upstream_id}/positions/AU-OPTUS/")
        ana_page.locator("input[name=state][value=pinned]").check()
        ana_page.locator("input[name=slot]").fill(str(slot))
        ana_page.locator("input[name=reason]").fill("Launch week")
        expect(ana_page.locator("#needs-approval")).to_contain_text("needs 1 approval")
        ana_page.locator("form button[type=submit].primary").click()
        expect(ana_page.locator("#messages")).to_contain_text("needs approval in AU-OPTUS")
    # and submits them as one request for Monday 06:00 (Sydney time)
    ana_page.fill("#id_title", "AU-OPTUS launch pins")
    ana_page.fill("#id_apply_at", f"{monday:%Y-%m-%dT%H:%M}")
    shot(ana_page, "e2e-cr-1-ana-draft")
    ana_page.click("#save-submit")
    expect(ana_page.locator("#request-state")).to_have_text("Submitted")
    expect(ana_page.locator("#own-request")).to_contain_text("someone else approves it")
    expect(ana_page.locator("#approve")).to_have_count(0)
    cr = ChangeRequest.objects.get()
    assert cr.apply_at == monday and cr.operations.count() == 2

    # Sam finds it waiting for his review, at 1366 px
    sam_page = next(sam_pages := new_page(chromium, width=1366, height=900))
    log_in(sam_page, base, "sam", PASSWORD)
    expect(sam_page.locator("#review-queue")).to_contain_text("AU-OPTUS launch pins")
    sam_page.click("#review-queue >> text=AU-OPTUS launch pins")
    # the preview at Monday 06:00: without the request nothing shows in the opt-in edition; with it both pins
    expect(sam_page.locator("#preview-without li")).to_have_count(0)
    expect(sam_page.locator("#preview-with li").first).to_contain_text("ng-003")
    expect(sam_page.locator("#preview-changes")).to_contain_text("ng-003 appears to #1")
    expect(sam_page.locator("#preview-changes")).to_contain_text("ng-005 appears to #2")
    expect(sam_page.locator("#diff")).to_contain_text("pinned")
    shot(sam_page, "e2e-cr-2-sam-review-1366")
    sam_page.click("#approve")
    expect(sam_page.locator("#request-state")).to_have_text("Approved")

    # Ana cannot approve her own request even by posting the form herself
    response = ana_page.request.post(
        f"{base}/requests/{cr.pk}/approve/",
        headers={"X-CSRFToken": ana_page.context.cookies(base)[0]["value"], "Referer": base},
    )
    assert response.status == 403
    # Nothing is live before Monday 06:00
    call_command("change_requests", "apply-due")
    cr.refresh_from_db()
    assert cr.state == RequestState.APPROVED

    # The scheduled job at 06:00 applies it, once
    with time_machine.travel(monday + timedelta(seconds=20), tick=False):
        call_command("change_requests", "apply-due")
        call_command("change_requests", "apply-due")
    cr.refresh_from_db()
    assert cr.state == RequestState.APPLIED
    drain()
    config.shared_tables_reader().clear_cache()

    # and the feed (from the shared tables) serves the pins first at that time
    with generous_partner_key(settings, tmp_path, "Optus") as secret:
        feed = sam_page.request.get(
            f"{base}/feed/v1/AU-OPTUS",
            params={"at": (monday + timedelta(minutes=1)).isoformat()},
            headers={"X-API-Key": secret},
        )
        assert feed.status == 200, feed.text()
        body = feed.json()
    assert [(i["content_id"], i["state"], i["slot"]) for i in body["items"]] == [
        ("ng-003", "pinned", 1),
        ("ng-005", "pinned", 2),
    ]
    sam_page.reload()
    expect(sam_page.locator("#request-state")).to_have_text("Applied")

    # the request page at 390 px
    phone = next(phone_pages := new_page(chromium, width=390, height=844))
    log_in(phone, base, "sam", PASSWORD)
    phone.goto(f"{base}/requests/{cr.pk}/")
    expect(phone.locator("#request-title")).to_be_visible()
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways at 390 px ({width} px)"
    shot(phone, "e2e-cr-3-request-390")
    for gen in (pages, sam_pages, phone_pages):
        gen.close()
