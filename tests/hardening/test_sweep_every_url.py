"""Every URL pattern Django knows, called as every role with hostile values: never a 5xx, and a
database that only changes when a value was in fact valid.

The patterns come from `get_resolver()` (nothing hand-listed, so a new page is swept the day it
is added). For each pattern, as anonymous, admin, editor, market manager and reviewer:

- GET with each hostile value in every str/path/slug (or regex) path parameter, and an id past
  bigint in every int parameter;
- GET with real path parameters and the value in every common query parameter;
- POST with real path parameters and the value in every common field (a form body for pages,
  JSON for the API).

Hostile values: NUL, `%` format strings, 10,000 characters, non-ASCII (including digits that
`int()` takes and `str.isdigit()` accepts), and times at the edge of the calendar. NUL and 10,000
characters are refused by every field, so those must never change a row; the others may be valid
for a free-text field (a token may be named "50%"), so only 5xx is checked for them.
Bounded: one request per (pattern, value, kind), ≈ 40-70 s on SQLite for all roles.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from django.apps import apps
from django.db import connection
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from accounts.models import User
from accounts.partners import enforcement
from accounts.partners.enforcement import PartnerLimiter
from accounts.partners.gateway import set_gateway
from accounts.partners.gateway.sqlite_limits import SQLiteStorage
from accounts.partners.services import PlanInput, key_issue, partner_create, plan_create
from accounts.services import api_token_create
from markets.models import Market
from tests.factories import ContentItemFactory, PositionFactory, RuleFactory, TagFactory

pytestmark = pytest.mark.django_db

HOSTILE: dict[str, str] = {
    "nul": "a\x00b",
    "long": "x" * 10_000,
    "percent": "50%s%(x)s%d%",
    "non-ascii": "Ünïcødé—日本²٣",
    "year-1": "0001-01-01T00:00:00+23:59",
    "year-9999": "9999-12-31",
}
BIG_ID = "9" * 25
# Values no field may accept: a request carrying them must leave every row as it was.
ALWAYS_REFUSED = {"nul", "long"}

QUERY_PARAMS = [
    "market", "tag", "at", "from", "until", "limit", "days", "user", "content_id", "q", "cursor",
    "page", "page_size", "state", "status", "code", "sort", "type", "source", "language",
    "published_after", "published_before", "category", "label", "min_confidence", "partner",
    "plan", "action", "object_type", "object_id", "hidden", "section", "kind", "since",
    "published_from", "published_to",
]  # fmt: skip
BODY_FIELDS = [
    "name", "title", "summary", "note", "notes", "reason", "description", "code", "languages",
    "timezone", "default_visibility", "state", "boost", "slot", "starts_at", "ends_at", "at", "days",
    "expires_at", "user", "market", "markets", "tag", "tags", "add", "remove", "content_id",
    "content_ids", "upstream_id", "label", "slug", "amount", "version", "action", "match_tags",
    "match_sources", "match_content_types", "category", "grace_hours", "rate_limit", "burst_limit",
    "quota_limit", "quota_period", "quota_offset", "api_stages", "contact_name", "contact_email",
    "direction", "keys", "label_ids", "status", "min_confidence", "auto_accept", "auto_reject",
    "block_at", "section", "ids", "select_all", "q",
]  # fmt: skip
SKIP = {"accounts/logout/"}  # would end the role's session midway
# Buttons without input (revoke, suspend, retry…): a POST does what it says whatever the body.
# Forms of checkboxes only (notification channels): any body is a valid choice, all boxes unticked.
ACTIONS = re.compile(
    r"(revoke|suspend|resume|retry|refresh|sync|delete|rotate|probe|activate/|<slug:action>"
    r"|read-all|open/|notifications/preferences|notifications/defaults|/test/"
    # A revert's only input is optional (ticks); the calendar page's POST makes a new feed link.
    r"|/revert/|schedule/calendar/)"
)
ROLES = ["anonymous", "admin_user", "editor", "au_manager", "reviewer"]

_ROUTE_PARAM = re.compile(r"<(?:(?P<conv>\w+):)?(?P<name>\w+)>")
_REGEX_PARAM = re.compile(r"\(\?P<(?P<name>\w+)>[^)]*\)")


def url_patterns() -> list[str]:
    """Every pattern's full route, from Django's resolver (regex patterns keep their groups)."""

    def walk(resolver: URLResolver, prefix: str) -> Iterator[str]:
        for entry in resolver.url_patterns:
            if isinstance(entry, URLResolver):
                yield from walk(entry, prefix + str(entry.pattern))
            elif isinstance(entry, URLPattern):
                yield prefix + str(entry.pattern)

    return [route for route in walk(get_resolver(), "") if route not in SKIP]


def build_path(route: str, values: dict[str, str], hostile: str | None) -> str:
    """The route with real values, or `hostile` in every text parameter (and a huge id in ints)."""

    def route_param(match: re.Match[str]) -> str:
        conv, name = match["conv"] or "str", match["name"]
        if hostile is not None:
            # An int route takes any digits: give it an id past PostgreSQL's bigint.
            return BIG_ID if conv == "int" else quote(hostile, safe="")
        return quote(values.get(name, "1"), safe="")

    def regex_param(match: re.Match[str]) -> str:
        value = hostile if hostile is not None else values.get(match["name"], "AU")
        return quote(value, safe="")

    path = _ROUTE_PARAM.sub(route_param, route)
    path = _REGEX_PARAM.sub(regex_param, path)
    for token in ("^", "$", "/?"):
        path = path.replace(token, "")
    return "/" + path.replace("\\", "")


def snapshot() -> list[int]:
    """Row counts of every model in one query.

    Not data: sessions, django-axes attempts, and partner traffic figures (every request a partner
    key makes is measured, refused or not: the recorder stores samples every few seconds).
    """
    measured = {"TrafficSample", "TrafficMinute", "TrafficHour"}
    models = [
        m
        for m in apps.get_models()
        if m._meta.app_label not in {"sessions", "axes"} and m.__name__ not in measured
    ]
    quote_name = connection.ops.quote_name
    sql = " UNION ALL ".join(
        f"SELECT {i}, COUNT(*) FROM {quote_name(m._meta.db_table)}" for i, m in enumerate(models)
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return [count for _, count in sorted(cursor.fetchall())]


@pytest.fixture
def world(
    db: None, settings: Any, tmp_path: Path, au: Market, de: Market, optus: Market
) -> Iterator[dict[str, Any]]:
    """Seeded rows for real path values, and a partner key (the feed is keyed)."""
    settings.GATEWAY_BACKEND = "local"
    settings.API_GATEWAY_STAGES = ["meridian:local"]
    set_gateway(None)
    enforcement.set_limiter(PartnerLimiter(SQLiteStorage(path=tmp_path / "limits.sqlite3")))
    TagFactory(slug="ocean")
    item = ContentItemFactory(upstream_id="vid-ocean", tag_slugs=["ocean"])
    rule = RuleFactory(market=au, action="hide", match_tags=["ocean"])
    position = PositionFactory(market=au, item=item, state="pinned", slot=1)
    partner = partner_create(actor=None, name="Sweep")
    plan = plan_create(
        actor=None,
        data=PlanInput(
            name="Sweep",
            rate_limit=10_000,
            burst_limit=5_000,
            quota_limit=10_000_000,
            quota_period="DAY",
            quota_offset=0,
            api_stages=["meridian:local"],
        ),
    )
    issued = key_issue(actor=None, partner=partner, plan=plan, name="sweep")
    values = {
        "code": "AU",
        "market_code": "AU",
        "market": "AU",
        "upstream_id": "vid-ocean",
        "content_id": "vid-ocean",
        "rule_id": str(rule.pk),
        "position_id": str(position.pk),
        "pk": str(partner.pk),
        "action": "suspend",
        "kind": "thumb",
        "decision": "approve",
        "unmatched": "nothing-here",
    }
    yield {"values": values, "partner_key": issued.secret}
    enforcement.set_limiter(None)
    set_gateway(None)


def _client(request: pytest.FixtureRequest, role: str, partner_key: str) -> Client:
    client = Client(raise_request_exception=False, HTTP_X_API_KEY=partner_key)
    if role != "anonymous":
        user: User = request.getfixturevalue(role)
        client.force_login(user)
    return client


@pytest.mark.parametrize("role", ROLES)
def test_every_url_survives_hostile_values_as_every_role(
    role: str, world: dict[str, Any], request: pytest.FixtureRequest
) -> None:
    client = _client(request, role, world["partner_key"])
    if role == "admin_user":  # the API as scripts call it, with a token, too
        admin: User = request.getfixturevalue("admin_user")
        secret = api_token_create(actor=admin, user=admin, name="sweep").secret
        token_client = Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Token {secret}")
    routes = url_patterns()
    assert len(routes) > 150  # the resolver was walked, django-admin included
    failures: list[str] = []
    for route in routes:
        sent: set[str] = set()  # a route with int parameters only gets the same hostile path each time
        api = route.startswith("api/")
        real = build_path(route, world["values"], None)
        for label, value in HOSTILE.items():
            before = snapshot() if label in ALWAYS_REFUSED and not ACTIONS.search(route) else None
            calls: list[tuple[str, str, Any]] = []
            hostile_path = build_path(route, world["values"], value)
            if hostile_path != real and hostile_path not in sent:
                sent.add(hostile_path)
                calls.append(("GET", hostile_path, None))
            calls.append(("GET", real + "?" + urlencode(dict.fromkeys(QUERY_PARAMS, value)), None))
            body = dict.fromkeys(BODY_FIELDS, value)
            calls.append(("POST", real, body))
            for method, path, data in calls:
                callers = (
                    [client, token_client] if api and role == "admin_user" and method == "POST" else [client]
                )
                for caller in callers:
                    if method == "GET":
                        answer = caller.get(path)
                    elif api:
                        answer = caller.post(path, json.dumps(data), content_type="application/json")
                    else:
                        answer = caller.post(path, data)
                    if answer.status_code >= 500:
                        failures.append(f"{method} {path[:120]!r} [{label}] → {answer.status_code}")
            if before is not None and snapshot() != before:
                failures.append(f"{route} [{label}] changed the database")
    assert not failures, "\n".join(failures)
