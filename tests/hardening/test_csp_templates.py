"""Content-Security-Policy: every page carries it, and no template needs inline script or style."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from accounts.models import User
from accounts.partners.models import Partner, PartnerApiKey, UsagePlan
from content.labels.models import ImageAsset, Section
from content.models import ContentItem
from markets.models import Rule

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
STRICT = {
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "frame-ancestors 'none'",
    "form-action 'self'",
    "base-uri 'self'",
    "object-src 'none'",
}


def _directives(header: str) -> set[str]:
    return {part.strip() for part in header.split(";") if part.strip()}


@pytest.fixture
def demo_admin(db: None) -> User:
    call_command("demo_data", items=30)
    return User.objects.get(username="admin")


def _pages() -> list[str]:
    item = ContentItem.objects.order_by("pk").first()
    rule = Rule.objects.filter(market__code="DE").order_by("pk").first()
    image = ImageAsset.objects.order_by("pk").first()
    section = Section.objects.order_by("pk").first()
    partner = Partner.objects.order_by("pk").first()
    plan = UsagePlan.objects.order_by("pk").first()
    key = PartnerApiKey.objects.order_by("pk").first()
    assert item and rule and image and section and partner and plan and key
    return [
        reverse("dashboard"),
        reverse("content:board"),
        reverse("content:detail", args=[item.upstream_id]),
        reverse("content:position", args=[item.upstream_id, "AU"]),
        reverse("markets:list"),
        reverse("markets:detail", args=["DE"]),
        reverse("markets:settings", args=["DE"]),
        reverse("markets:rule_create", args=["DE"]),
        reverse("markets:rule_edit", args=["DE", rule.pk]),
        reverse("markets:rule_delete", args=["DE", rule.pk]),
        reverse("markets:preview", args=["AU"]),
        reverse("audit:log"),
        reverse("labels:queue"),
        reverse("labels:image", args=[image.pk]),
        reverse("labels:upload"),
        reverse("labels:jobs"),
        reverse("labels:sections"),
        reverse("labels:section", args=[section.pk]),
        reverse("labels:moderation"),
        reverse("labels:moderation_market", args=["DE"]),
        reverse("partners:list"),
        reverse("partners:create"),
        reverse("partners:detail", args=[partner.pk]),
        reverse("partners:plans"),
        reverse("partners:plan-create"),
        reverse("partners:plan-edit", args=[plan.pk]),
        reverse("partners:keys"),
        reverse("partners:key-issue"),
        reverse("partners:key-detail", args=[key.pk]),
        reverse("partners:key-rotate", args=[key.pk]),
        reverse("partners:key-top-up", args=[key.pk]),
        reverse("partners:alerts"),
        reverse("publishing:outbox"),
        reverse("accounts:tokens"),
    ]


@pytest.mark.django_db
def test_every_portal_page_carries_the_strict_policy(demo_admin: User) -> None:
    # Given an admin, who may open every page
    client = Client()
    client.force_login(demo_admin)
    # When each page is rendered
    for url in _pages():
        response = client.get(url)
        # Then it renders and carries the strict policy, with no inline allowance anywhere
        assert response.status_code == 200, url
        header = response.headers.get("Content-Security-Policy", "")
        assert _directives(header) >= STRICT, (url, header)
        assert "unsafe-inline" not in header and "unsafe-eval" not in header, url


@pytest.mark.django_db
def test_the_login_page_carries_the_strict_policy() -> None:
    response = Client().get(reverse("login"))
    assert response.status_code == 200
    assert _directives(response.headers["Content-Security-Policy"]) >= STRICT


@pytest.mark.django_db
def test_only_the_api_docs_relax_the_policy_and_only_for_their_inline_style(editor: User) -> None:
    # Given the Swagger UI page (split view: its init script is a same-origin URL, not inline)
    client = Client()
    client.force_login(editor)
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    header = docs.headers["Content-Security-Policy"]
    # Then styles may be inline there, scripts still may not
    assert "style-src 'self' 'unsafe-inline'" in _directives(header)
    assert "script-src 'self'" in _directives(header)
    assert re.search(r"<script>(?!\s*</script>)", docs.content.decode()) is None
    # And its init script is served from the same origin
    assert client.get("/api/docs/?script=").status_code == 200


INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
INLINE_HANDLER = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)
INLINE_STYLE = re.compile(r"\sstyle\s*=\s*[\"']", re.IGNORECASE)
HX_ON = re.compile(r"\shx-on", re.IGNORECASE)


def test_no_template_has_inline_script_handlers_or_styles() -> None:
    # Given every template of the portal
    found: list[str] = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            for name, pattern in (
                ("inline <script>", INLINE_SCRIPT),
                ("inline handler", INLINE_HANDLER),
                ("style attribute", INLINE_STYLE),
                ("hx-on (needs eval)", HX_ON),
            ):
                if pattern.search(line):
                    found.append(f"{path.relative_to(TEMPLATES)}:{number}: {name}: {line.strip()}")
    # Then none needs the CSP relaxed
    assert found == []


def test_the_template_scan_would_catch_each_kind() -> None:
    # The patterns above are what keeps templates clean, so check they catch what they claim to.
    assert INLINE_SCRIPT.search("<script>alert(1)</script>")
    assert INLINE_SCRIPT.search('<script type="module">')
    assert not INLINE_SCRIPT.search('<script src="/static/js/portal.js" defer></script>')
    assert INLINE_HANDLER.search('<button onclick="go()">')
    assert not INLINE_HANDLER.search('<a href="/x" data-once="y">')
    assert INLINE_STYLE.search('<p style="margin:0">')
    assert HX_ON.search('<div hx-on:click="x">')
