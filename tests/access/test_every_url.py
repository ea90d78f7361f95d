"""Every portal URL, as every role: no 5xx, every refusal is the portal's styled 403 that says why,
anonymous users are sent to log in, and unknown objects get the portal's 404 page.

The URL patterns are read from the resolver, so a page added later is walked too (and fails the
coverage test below until its path parameters have a demo object here).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from accounts.models import User
from accounts.partners.gateway import set_gateway
from accounts.partners.models import QuotaTopUp
from accounts.partners.services import PlanInput, key_issue, key_top_up, partner_create, plan_create
from accounts.services import api_token_create
from accounts.sso.services import sso_mapping_create
from content.labels.models import ImageLabel
from content.labels.services import (
    image_labels_store,
    images_upload,
    moderation_policy_set,
    section_create,
    section_mapping_set,
)
from content.services import PositionChange, position_set, positions_bulk_set
from markets.groups.services import group_create, group_rule_create
from markets.models import Market
from portal.audit.models import AuditEntry
from portal.notifications.models import Notification, Receipt, WebhookDelivery, WebhookEndpoint
from portal.schedule.services import calendar_feed_create
from portal.shared_tables.models import OutboxEntry, OutboxStatus
from tests.factories import ContentItemFactory, PositionFactory, RuleFactory
from tests.labels.conftest import make_image, result

ROLES = ["anonymous", "admin_user", "editor", "au_manager", "reviewer", "nobody"]
STAGE = "meridian:local"

# Not portal pages: each answers in its own convention, tested in its own suite.
NOT_PORTAL_PAGES = (
    "api/",  # the REST API answers JSON (401/403/404), tests/api
    "django-admin/",  # Django's admin site and its own login
    "feed/",  # partner-key JSON endpoint, tests/shared_tables/test_feed.py
    "calendar/",  # calendar feeds, a secret in the URL instead of a login: tests/schedule
    "partners/probe/",  # partner-key JSON endpoint, tests/partners/test_enforcement.py
    "accounts/login/",  # the login page itself
    "accounts/logout/",
    # The OpenID Connect hand-off (to the provider and back) is part of logging in: 404 while SSO
    # is off, the provider's page when on (tests/sso).
    "accounts/sso/login/",
    "accounts/sso/callback/",
)

BARE_403 = b"<h1>403 Forbidden</h1>"
REFUSAL_MARK = b"data-portal-refusal"
NOT_FOUND_MARK = b"data-portal-not-found"


@dataclass(frozen=True)
class Route:
    pattern: str  # e.g. "markets/<str:code>/rules/<int:rule_id>/"
    name: str  # namespaced, e.g. "markets:rule_edit"
    callback: Any

    def params(self) -> list[str]:
        return re.findall(r"<(?:\w+:)?(\w+)>", self.pattern)

    def path(self, values: dict[str, Any]) -> str:
        return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(values[m.group(1)]), self.pattern)


def _walk(patterns: list[Any], prefix: str = "", namespace: str = "") -> Iterator[Route]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern):
            route = (prefix + str(entry.pattern)).replace("^", "").replace("$", "")
            yield Route(route, namespace + (entry.name or ""), entry.callback)


def portal_routes() -> list[Route]:
    return [r for r in _walk(get_resolver().url_patterns) if not r.pattern.startswith(NOT_PORTAL_PAGES)]


ROUTES = portal_routes()


def test_the_walk_finds_the_portal_pages() -> None:
    names = {r.name for r in ROUTES}
    assert {"dashboard", "content:board", "labels:queue", "partners:list", "markets:rule_edit"} <= names
    assert len(ROUTES) > 50


@pytest.mark.parametrize("route", ROUTES, ids=[r.name for r in ROUTES])
def test_every_portal_page_goes_through_portal_view(route: Route) -> None:
    # One mechanism for login, refusals and missing objects: portal_view marks what it wraps.
    assert getattr(route.callback, "portal_view", False), f"{route.name} is not wrapped by portal_view"


# --- the demo world ------------------------------------------------------------------------------


@pytest.fixture
def world(
    settings: Any,
    au: Market,
    de: Market,
    admin_user: User,
    editor: User,
    au_manager: User,
    reviewer: User,
    nobody: User,
    django_capture_on_commit_callbacks: Any,
) -> dict[str, Any]:
    """One object of every kind a portal URL names, in the market AU."""
    settings.GATEWAY_BACKEND = "local"
    settings.API_GATEWAY_STAGES = [STAGE]
    settings.PARTNER_SYNC_BACKOFF = 0
    set_gateway(None)
    # An id with a slash: content URLs take upstream ids as paths.
    item = ContentItemFactory(upstream_id="ng-walk/001", content_type="video", tag_slugs=["ocean"])
    rule = RuleFactory(market=au, action="hide", match_tags=["hunting"])
    pin = PositionFactory(market=au, item=item, state="pinned", slot=1)
    with django_capture_on_commit_callbacks(execute=True):
        partner = partner_create(actor=None, name="Optus", contact_email="partners@optus.example.com")
        plan = plan_create(
            actor=None,
            data=PlanInput(
                name="Partner Gold",
                rate_limit=50,
                burst_limit=500,
                quota_limit=20_000,
                quota_period="MONTH",
                quota_offset=0,
                api_stages=[STAGE],
            ),
        )
        key = key_issue(actor=None, partner=partner, plan=plan, name="Optus TV app").key
    top_up = key_top_up(actor=None, key=key, amount=100, reason="launch week")
    token = api_token_create(actor=None, user=editor, name="walk", never_expires=True).token
    image = images_upload(actor=None, files=[("walk.png", make_image())], via="command").created[0]
    image_labels_store(image_id=image.pk, result=result([("Glacier", 70.0)]))
    section = section_create(actor=None, name="Polar")
    mapping = section_mapping_set(actor=None, section=section, label_name="Glacier", min_confidence=60)
    policy = moderation_policy_set(actor=None, market=au, category="Violence", block_at=60)
    entry = OutboxEntry.objects.create(kind="market", key="AU", version=1, status=OutboxStatus.DEAD)
    sso_mapping = sso_mapping_create(
        actor=admin_user, group_name="meridian-editors-au", role="editor", market=au
    )
    note = Notification.objects.create(kind="outbox_backlog", occurrence_key="walk", title="Walk", link="/")
    receipt = Receipt.objects.create(notification=note, user=admin_user)
    hook = WebhookEndpoint.objects.create(name="walk", url="https://hooks.example.com/", secret="s", kinds=[])
    delivery = WebhookDelivery.objects.create(endpoint=hook, event="test", payload={}, status="dead")
    # A change and a bulk change in the audit log, for the revert pages.
    other = ContentItemFactory(upstream_id="ng-walk/002")
    position_set(actor=editor, market=au, item=other, change=PositionChange(state="hidden"))
    bulk = positions_bulk_set(
        actor=editor, markets=[au], item_ids=[other.pk], change=PositionChange(state="promoted", boost=2)
    )
    set_gateway(None)
    group = group_create(actor=None, code="APAC", name="Asia Pacific", members=[au])
    group_rule = group_rule_create(actor=None, group=group, action="hide", match_sources=["gossip"])
    from portal.change_requests.services import Operation, request_create

    change_request = request_create(
        actor=au_manager,
        market=au,
        title="Walk",
        operations=[Operation.position(item, PositionChange(state="hidden"))],
        submit=True,
    )
    return {
        "change_requests:pk": change_request.pk,
        "change_requests:code": au.code,
        "audit:entry_id": AuditEntry.objects.filter(action="position.set").order_by("id").first().pk,
        "audit:batch": bulk.batch,
        "schedule:code": au.code,
        "schedule:group_code": group.code,
        "schedule:pk": calendar_feed_create(actor=editor).token.pk,
        "accounts:pk": token.pk,
        "partners:pk": partner.pk,
        "partners:plan:pk": plan.pk,
        "partners:key:pk": key.pk,
        "partners:top:pk": QuotaTopUp.objects.get(pk=top_up.pk).pk,
        "partners:action": "suspend",
        "content:upstream_id": item.upstream_id,
        "content:market_code": au.code,
        "markets:code": au.code,
        "markets:rule_id": rule.pk,
        "markets:position_id": pin.pk,
        "groups:code": group.code,
        "groups:rule_id": group_rule.pk,
        "groups:item_id": item.pk,
        "labels:image_id": image.pk,
        "labels:kind": "thumb",
        "labels:label_id": ImageLabel.objects.get(image=image).pk,
        "labels:decision": "approve",
        "labels:section_id": section.pk,
        "labels:mapping_id": mapping.pk,
        "labels:code": au.code,
        "labels:policy_id": policy.pk,
        "publishing:entry_id": entry.pk,
        "sso:pk": sso_mapping.pk,
        "notifications:receipt_id": receipt.pk,
        "notifications:endpoint_id": hook.pk,
        "notifications:delivery_id": delivery.pk,
    }


def _key(route: Route, param: str) -> list[str]:
    """The world's keys for `param` of `route`, most specific first."""
    namespace, _, name = route.name.rpartition(":")
    area = name.split("-")[0] if namespace == "partners" else ""
    return [f"{namespace}:{area}:{param}", f"{namespace}:{param}"]


def fill(route: Route, world: dict[str, Any], *, unknown: bool = False) -> str | None:
    """The route's URL with demo objects (or, with `unknown`, ids and codes that name nothing)."""
    values: dict[str, Any] = {}
    for param in route.params():
        value = next((world[k] for k in _key(route, param) if k in world), None)
        if value is None:
            return None
        if unknown and param not in {"action", "kind", "decision"}:
            value = 987_654 if isinstance(value, int) else "ZZ-NO-SUCH"
        values[param] = value
    return route.path(values)


def test_every_route_has_demo_objects_for_its_parameters(world: dict[str, Any]) -> None:
    missing = [r.name for r in ROUTES if fill(r, world) is None]
    assert missing == []


# --- every page, every role ----------------------------------------------------------------------


def _client(request: pytest.FixtureRequest, role: str) -> Client:
    client = Client()
    if role != "anonymous":
        client.force_login(request.getfixturevalue(role))
    return client


def _problems(role: str, method: str, url: str, response: Any) -> list[str]:
    status = response.status_code
    if response.streaming:  # an image rendition
        # Read through the test client's own wrapper: it closes the response with Django's
        # close_old_connections switched off (a bare close() drops the test's PostgreSQL connection).
        b"".join(response.streaming_content)
        body = b""
    else:
        body = response.content
    found = []
    if status >= 500:
        found.append(f"{method} {url} as {role}: {status}")
    if status == 403 and (REFUSAL_MARK not in body or BARE_403 in body or b"refused" not in body):
        found.append(f"{method} {url} as {role}: a 403 that is not the portal's refusal page")
    if role == "anonymous" and not (status == 302 and "/accounts/login/?next=" in response["Location"]):
        found.append(f"{method} {url} as anonymous: {status}, not a login redirect")
    if status == 404 and NOT_FOUND_MARK not in body:
        found.append(f"{method} {url} as {role}: a 404 that is not the portal's page")
    return found


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("role", ROLES)
def test_every_portal_url_as_every_role(
    request: pytest.FixtureRequest, world: dict[str, Any], role: str, method: str
) -> None:
    # Given a user of `role` (or nobody logged in) and one object of every kind
    client = _client(request, role)
    problems: list[str] = []
    refused = 0
    for route in ROUTES:
        url = fill(route, world)
        assert url is not None
        # When they open (or post an empty form to) every page
        response = getattr(client, method)(url)
        refused += response.status_code == 403
        # Then nothing fails, refusals are the styled page, and anonymous users log in first
        problems += _problems(role, method.upper(), url, response)
    assert problems == []
    if role == "nobody":
        assert refused > 0


# The routes that name an object. The publishing page's retry button is idempotent: any id that is
# not a dead letter (any more) answers "nothing to retry", as a second click would.
OBJECT_ROUTES = [r for r in ROUTES if r.params() and r.name != "publishing:retry"]


@pytest.mark.parametrize("route", OBJECT_ROUTES, ids=[r.name for r in OBJECT_ROUTES])
def test_an_unknown_object_gets_the_portals_404(
    world: dict[str, Any], admin_user: User, route: Route
) -> None:
    # Given an admin (who may see everything) and a URL naming objects that do not exist
    client = Client()
    client.force_login(admin_user)
    url = fill(route, world, unknown=True)
    # When they open it (or post to it, for a page that only takes posts)
    response = client.get(url)
    if response.status_code == 405:
        response = client.post(url)
    # Then they get the portal's 404 page, not Django's
    assert response.status_code == 404, url
    assert NOT_FOUND_MARK in response.content
    assert b"<html" in response.content
