"""Every portal page, as each role that may open it, on a phone (390 px) and a laptop (1366 px):
no sideways scroll, no console error, no CSP violation. Screenshots go to test-artifacts/."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.partners.models import Partner, PartnerApiKey, UsagePlan
from content.labels.models import ImageAsset, Section
from content.models import ContentItem
from markets.models import Rule
from portal.audit.models import AuditEntry
from portal.change_requests.models import ChangeRequest
from tests.browser import log_in, new_page, shot
from tests.factories import ContentItemFactory

pytestmark = pytest.mark.e2e
PASSWORD = "meridian-demo"
WIDTHS = (390, 1366)
# Logged on the page by an init script: Chromium reports a refused inline script or style here.
CSP_WATCH = (
    "document.addEventListener('securitypolicyviolation', function (e) {"
    " console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI); });"
)


def pages_of(role: str) -> list[str]:
    """The portal pages `role` may open (in the demo data), each as a path."""
    item = ContentItem.objects.order_by("-published_at").first()
    assert item is not None
    rule = Rule.objects.filter(market__code="AU").order_by("id").first()
    image = ImageAsset.objects.order_by("id").first()
    section = Section.objects.order_by("id").first()
    # The demo's change request: Ana's AU-OPTUS launch pins, waiting for Sam.
    request = ChangeRequest.objects.filter(market__code="AU-OPTUS").order_by("id").first()
    assert rule is not None and image is not None and section is not None and request is not None
    # The demo's bulk change (Mia's "Ocean Week" campaign), for the revert page.
    bulk = AuditEntry.objects.filter(market_code="AU", batch__isnull=False).values_list("batch", flat=True)[0]
    board = [
        "/",
        "/content/",
        "/content/?market=AU&tag=ocean",
        "/content/?tag=no-such-tag",
        f"/content/items/{item.upstream_id}/",
    ]
    market = [
        "/markets/",
        "/markets/AU/",
        "/markets/AU/preview/",
        "/markets/AU/preview/?hidden=on",
        "/audit/",
        "/requests/",
        f"/requests/{request.pk}/",
        "/schedule/",
        "/schedule/AU/",
        "/schedule/calendar/",
        f"/audit/batches/{bulk}/revert/",
        "/groups/",
        "/groups/APAC/",
        "/groups/APAC/?preview=AU",
        "/schedule/groups/APAC/",
    ]
    manage = [
        "/markets/AU/settings/",
        "/markets/AU/rules/new/",
        f"/markets/AU/rules/{rule.pk}/",
        "/requests/policy/AU-OPTUS/",
    ]
    labels = [
        "/labels/",
        f"/labels/images/{image.pk}/",
        "/labels/sections/",
        f"/labels/sections/{section.pk}/",
        "/labels/upload/",
        "/labels/jobs/",
    ]
    moderation = ["/labels/moderation/", "/labels/moderation/AU/"]
    own = ["/accounts/tokens/", "/notifications/", "/notifications/preferences/"]
    if role == "admin":
        partner = Partner.objects.order_by("id").first()
        key = PartnerApiKey.objects.order_by("id").first()
        plan = UsagePlan.objects.order_by("id").first()
        assert partner is not None and key is not None and plan is not None
        partners = [
            "/partners/",
            f"/partners/{partner.pk}/",
            "/partners/plans/",
            f"/partners/plans/{plan.pk}/",
            f"/partners/plans/{plan.pk}/fit/",
            "/partners/keys/",
            f"/partners/keys/{key.pk}/",
            f"/partners/keys/{key.pk}/traffic/",
            "/publishing/",
            "/accounts/sso/mappings/",
            "/notifications/defaults/",
            "/notifications/webhooks/",
            "/markets/new/",
            "/markets/new/?copy=DE",
            "/markets/AU/deactivate/",
            "/markets/AU/activate/",
            "/groups/new/",
            "/groups/EU/",
            "/groups/EU/settings/",
            "/groups/EU/rules/new/",
        ]
        return board + market + manage + labels + moderation + partners + own
    return {
        "editor": board + market + own,
        "au-manager": board + market + manage + moderation + own,
        "reviewer": ["/", *labels, *own],
    }[role]


@pytest.fixture
def demo(transactional_db: None) -> None:
    call_command("demo_data", items=300, stdout=StringIO())
    # One item with the longest unbroken title and URL an upstream feed may send: the newest, so
    # it opens as "the item page" and heads the board.
    ContentItemFactory(
        upstream_id="ng-" + "long" * 30,
        title="Supercalifragilisticexpialidocious" * 4,
        url="https://media.example.com/" + "a-very-long-path-segment" * 30,
        published_at=timezone.now(),
    )


@pytest.mark.parametrize("role", ["admin", "editor", "au-manager", "reviewer"])
def test_every_page_fits_a_phone_and_a_laptop_without_console_errors(
    live_server: Any, chromium: Any, demo: None, role: str
) -> None:
    base = live_server.url
    paths = pages_of(role)
    problems: list[str] = []
    for width in WIDTHS:
        pages = new_page(chromium, width=width, height=844 if width < 500 else 900)
        page = next(pages)
        try:
            page.context.add_init_script(CSP_WATCH)
            errors: list[str] = []
            page.on("console", lambda m, errors=errors: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
            log_in(page, base, role, PASSWORD)
            for path in paths:
                errors.clear()
                response = page.goto(base + path)
                page.wait_for_load_state("networkidle")
                status = response.status if response else 0
                overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                slug = (
                    path.strip("/").replace("/", "-").replace("?", "-").replace("&", "-").replace("=", "-")
                    or "dashboard"
                )
                shot(page, f"widths-{width}-{role}-{slug}"[:120])
                if status != 200:
                    problems.append(f"{width}px {path}: HTTP {status}")
                if overflow > 0:
                    problems.append(f"{width}px {path}: scrolls sideways by {overflow}px")
                if errors:
                    problems.append(f"{width}px {path}: console: {errors}")
        finally:
            pages.close()
    assert not problems, "\n".join(problems)
