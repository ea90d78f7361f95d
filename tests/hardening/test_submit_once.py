"""Every create/issue/rotate/top-up form is safe to send twice (issue #12: a reload after issuing a
partner key issued a second live key).

Each form carries a one-time token (`portal/submit_once.py`): the first POST creates, a repeat of
the same POST (a reload, back-and-submit, a double click) creates nothing and redirects to the
first one's result; a secret is shown once, in the first answer, and never again.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from PIL import Image

from accounts.models import ApiToken, User
from accounts.partners import enforcement
from accounts.partners.enforcement import PartnerLimiter
from accounts.partners.gateway import set_gateway
from accounts.partners.gateway.sqlite_limits import SQLiteStorage
from accounts.partners.models import Partner, PartnerApiKey, QuotaTopUp, UsagePlan
from accounts.partners.services import IssuedKey, PlanInput, key_issue, partner_create, plan_create
from content.labels.models import ImageAsset, MarketModerationPolicy, Section, SectionMapping
from markets.groups.services import group_create
from markets.models import GroupRule, Market, MarketGroup, Rule
from portal.audit.models import AuditEntry
from portal.submit_once import FIELD
from tests.factories import TagFactory

pytestmark = pytest.mark.django_db

STAGE = "meridian:local"
TOKEN_RE = re.compile(rf'name="{FIELD}" value="([^"]+)"')


@pytest.fixture(autouse=True)
def local_partners(settings: Any, tmp_path: Path) -> Iterator[None]:
    settings.GATEWAY_BACKEND = "local"
    settings.API_GATEWAY_STAGES = [STAGE]
    settings.PARTNER_SYNC_BACKOFF = 0
    settings.MEDIA_ROOT = str(tmp_path / "media")
    set_gateway(None)
    enforcement.set_limiter(PartnerLimiter(SQLiteStorage(path=tmp_path / "limits.sqlite3")))
    yield
    enforcement.set_limiter(None)


@dataclass
class World:
    admin: User
    partner: Partner
    plan: UsagePlan
    key: IssuedKey
    section: Section


@pytest.fixture
def world(admin_user: User, au: Market, django_capture_on_commit_callbacks: Any) -> World:
    with django_capture_on_commit_callbacks(execute=True):
        partner = partner_create(actor=None, name="Optus", contact_email="p@optus.example.com")
        plan = plan_create(
            actor=None,
            data=PlanInput(
                name="Gold",
                rate_limit=50,
                burst_limit=500,
                quota_limit=20_000,
                quota_period="MONTH",
                quota_offset=0,
                api_stages=[STAGE],
            ),
        )
        key = key_issue(actor=None, partner=partner, plan=plan, name="TV app")
    TagFactory(slug="hunting")
    section = Section.objects.create(name="Wildlife")
    return World(admin_user, partner, plan, key, section)


def _apac() -> MarketGroup:
    """A group with AU, made once (the create-form cases need one to add a rule to)."""
    group = MarketGroup.objects.filter(code="APAC").first()
    if group is None:
        group = group_create(
            actor=None, code="APAC", name="Asia Pacific", members=[Market.objects.get(code="AU")]
        )
    return group


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (120, 80), (30, 120, 200)).save(out, format="PNG")
    return out.getvalue()


@dataclass
class Case:
    url: Callable[[World], str]
    data: Callable[[World], dict[str, Any]]
    created: Callable[[], int]
    secret: bool = False


CASES: dict[str, Case] = {
    "partners:create": Case(
        lambda w: "/partners/new/",
        lambda w: {"name": "Telstra", "contact_email": "p@telstra.example.com", "active": "on"},
        lambda: Partner.objects.count(),
    ),
    "partners:plan-create": Case(
        lambda w: "/partners/plans/new/",
        lambda w: {
            "name": "Silver",
            "rate_limit": "10",
            "burst_limit": "20",
            "quota_limit": "1000",
            "quota_period": "DAY",
            "quota_offset": "0",
            "api_stages": STAGE,
            "method_throttles": "",
        },
        lambda: UsagePlan.objects.count(),
    ),
    "partners:key-issue": Case(
        lambda w: "/partners/keys/issue/",
        lambda w: {"partner": w.partner.pk, "plan": w.plan.pk, "name": "Second app"},
        lambda: PartnerApiKey.objects.count(),
        secret=True,
    ),
    "partners:key-rotate": Case(
        lambda w: f"/partners/keys/{w.key.key.pk}/rotate/",
        lambda w: {"grace": "24"},
        lambda: PartnerApiKey.objects.count(),
        secret=True,
    ),
    "partners:key-top-up": Case(
        lambda w: f"/partners/keys/{w.key.key.pk}/top-up/",
        lambda w: {"amount": "500", "reason": "launch week"},
        lambda: QuotaTopUp.objects.count(),
    ),
    "accounts:tokens": Case(
        lambda w: "/accounts/tokens/",
        lambda w: {"name": "campaign script", "expiry": "30"},
        lambda: ApiToken.objects.count(),
        secret=True,
    ),
    "labels:sections": Case(
        lambda w: "/labels/sections/",
        lambda w: {"name": "Oceans"},
        lambda: Section.objects.count(),
    ),
    "labels:section": Case(
        lambda w: f"/labels/sections/{w.section.pk}/",
        lambda w: {"label_name": "Whale", "min_confidence": "80"},
        lambda: SectionMapping.objects.count(),
    ),
    "labels:moderation_market": Case(
        lambda w: "/labels/moderation/AU/",
        lambda w: {"category": "Violence", "block_at": "80"},
        lambda: MarketModerationPolicy.objects.count(),
    ),
    "markets:rule_create": Case(
        lambda w: "/markets/AU/rules/new/",
        lambda w: {"action": "hide", "match_tags": "hunting", "note": "youth protection"},
        lambda: Rule.objects.count(),
    ),
    "groups:create": Case(
        lambda w: "/groups/new/",
        lambda w: {"code": "EU", "name": "European Union", "priority": "20", "members": ["AU"]},
        lambda: MarketGroup.objects.count(),
    ),
    "groups:rule_create": Case(
        lambda w: f"/groups/{_apac().code}/rules/new/",
        lambda w: {"action": "hide", "match_sources": "gossip", "note": "court order"},
        lambda: GroupRule.objects.count(),
    ),
    "markets:new": Case(
        lambda w: "/markets/new/",
        lambda w: {
            "code": "DE-TELEKOM",
            "name": "Telekom",
            "copy_rules_from": "AU",
            "languages": "de",
            "timezone": "Europe/Berlin",
            "default_visibility": "opt_in",
        },
        lambda: Market.objects.count(),
    ),
    "labels:upload": Case(
        lambda w: "/labels/upload/",
        lambda w: {"images": [SimpleUploadedFile("whale.png", _png(), content_type="image/png")]},
        lambda: ImageAsset.objects.count(),
    ),
}


def _patterns(resolver: URLResolver, namespace: str = "") -> Iterator[tuple[str, URLPattern]]:
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _patterns(entry, inner)
        else:
            yield f"{namespace}{entry.name}", entry


def _guarded(callback: Any) -> bool:
    return bool(getattr(callback, "submits_once", False))


def test_every_create_form_view_is_guarded() -> None:
    # The views whose POST creates something (or issues a secret) are exactly these, and guarded;
    # the retry buttons are guarded too (a re-issue shows a new secret).
    guarded = {name for name, pattern in _patterns(get_resolver()) if _guarded(pattern.callback)}
    retries = {"partners:plan-retry", "partners:key-retry", "partners:top-up-retry"}
    assert guarded == set(CASES) | retries


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_create_form_sent_twice_creates_once(name: str, world: World) -> None:
    case = CASES[name]
    client = Client()
    client.force_login(world.admin)
    url = case.url(world)

    # Given the form page, with its one-time token
    page = client.get(url)
    assert page.status_code == 200
    found = TOKEN_RE.search(page.content.decode())
    assert found, f"{url} renders no {FIELD}"
    data = {**case.data(world), FIELD: found.group(1)}
    before, audit_before = case.created(), AuditEntry.objects.count()

    # When it is sent, and then sent again (a reload of the answer re-sends the same POST)
    first = client.post(url, data)
    assert first.status_code in (201, 200, 302), first.content[:500]
    after_first, audit_after_first = case.created(), AuditEntry.objects.count()
    again = client.post(url, case.data(world) | {FIELD: found.group(1)})

    # Then the first created, the second created nothing, wrote nothing and leads to the result
    assert after_first > before and audit_after_first > audit_before
    assert case.created() == after_first
    assert AuditEntry.objects.count() == audit_after_first
    assert again.status_code == 302
    landing = client.get(again["Location"])
    assert "This form was already sent" in landing.content.decode()
    if case.secret:
        # And the secret was in the first answer only
        shown = re.search(r'value="((?:mpk|mt|mrd)_[^"]+)"', first.content.decode())
        assert shown, "the first answer shows the secret"
        assert shown.group(1) not in again.content.decode() + landing.content.decode()
        assert "shown once" in landing.content.decode()
