"""Bad input sweep: every portal form and every API write refuses garbage with a 4xx and field errors.

Table-driven twice over: the portal forms are found by rendering each page and reading its
`<form method="post">` fields; the API writes are read from /api/schema/. Each gets wrong
types, 100 kB strings, bad market codes and time zones, reversed windows, unknown tags,
non-image uploads and an oversize body, and the database must be exactly as it was afterwards
(row counts of every model, the newest audit and outbox ids).
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from typing import Any

import pytest
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import User
from accounts.services import api_token_create
from markets.models import Market
from portal.audit.models import AuditEntry
from portal.shared_tables.models import OutboxEntry
from tests.factories import ContentItemFactory, RuleFactory, TagFactory

pytestmark = pytest.mark.django_db

HUGE = "x" * 100_000
WINDOW = {"starts_at": "2026-03-09T10:00:00Z", "ends_at": "2026-03-02T10:00:00Z"}


def snapshot() -> dict[str, Any]:
    """Row counts of every model, plus the newest audit and outbox ids."""
    counts = {model._meta.label: model._default_manager.count() for model in apps.get_models()}
    counts.pop("sessions.Session", None)  # logging in writes a session; not a change of data
    last_audit = AuditEntry.objects.order_by("-id").values_list("id", flat=True).first()
    last_outbox = OutboxEntry.objects.order_by("-id").values_list("id", flat=True).first()
    return {"counts": counts, "audit": last_audit, "outbox": last_outbox}


@pytest.fixture
def world(au: Market, de: Market, optus: Market, admin_user: User) -> dict[str, Any]:
    for slug in ("ocean", "hunting"):
        TagFactory(slug=slug)
    item = ContentItemFactory(upstream_id="vid-ocean", content_type="video", tag_slugs=["ocean"])
    rule = RuleFactory(market=au, action="hide", match_tags=["hunting"])
    return {"item": item, "rule": rule}


# --- Portal forms --------------------------------------------------------------------------------


class _Forms(HTMLParser):
    """The POST forms of a page: action and field names (hidden fields keep their value)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form" and (a.get("method") or "").lower() == "post":
            self.forms.append({"action": a.get("action") or "", "fields": {}, "files": set()})
        elif self.forms and tag in {"input", "select", "textarea"} and a.get("name"):
            name = a["name"] or ""
            if a.get("type") == "file":
                self.forms[-1]["files"].add(name)
            else:
                self.forms[-1]["fields"].setdefault(
                    name, (a.get("value") or "") if a.get("type") == "hidden" else ""
                )


PORTAL_PAGES = [
    "/content/items/vid-ocean/",  # position set, tags
    "/content/",  # bulk positioning
    "/markets/AU/settings/",
    "/markets/AU/rules/new/",
    "/markets/AU/rules/{rule}/",
    "/accounts/tokens/",
    "/partners/new/",
    "/partners/plans/new/",
    "/partners/keys/issue/",
    "/labels/upload/",
    "/labels/sections/",
    "/labels/moderation/AU/",
]


def _garbage_for(name: str) -> list[str]:
    lowered = name.lower()
    # NUL is refused by every Django form field (PostgreSQL cannot store it), so each value is
    # invalid for any field, free text included; the rest are invalid for fields named so.
    values = [HUGE + "\u0000", "\u0000"]
    if "market" in lowered or lowered == "code":
        values.append("ZZ-NOT A MARKET")
    if "timezone" in lowered:
        values.append("Mars/Olympus_Mons")
    if "tag" in lowered:
        values.append("no-such-tag-anywhere")
    return values


def _portal_cases(client: Client, world: dict[str, Any]) -> list[tuple[str, dict[str, Any], str]]:
    cases: list[tuple[str, dict[str, Any], str]] = []
    for template in PORTAL_PAGES:
        url = template.format(rule=world["rule"].pk)
        page = client.get(url)
        assert page.status_code == 200, (url, page.status_code)
        parser = _Forms()
        parser.feed(page.content.decode())
        for form in parser.forms:
            action = form["action"] or url
            if re.search(r"(logout|delete|revoke|remove|retry|refresh|suspend|resume)", action):
                continue  # a button without input, not a form to fill
            base = dict(form["fields"])
            editable = [n for n, v in base.items() if n != "csrfmiddlewaretoken" and not v]
            for name in editable:
                for value in _garbage_for(name):
                    cases.append((action, {**base, name: value}, f"{url} {name}={value[:20]!r}"))
            if {"starts_at", "ends_at"} <= set(base):
                cases.append((action, {**base, **WINDOW}, f"{url} reversed window"))
            for name in form["files"]:
                cases.append(
                    (
                        action,
                        {**base, name: SimpleUploadedFile("cat.jpg", b"%PDF-1.4 not an image", "image/jpeg")},
                        f"{url} non-image upload",
                    )
                )
    return cases


def test_every_portal_form_refuses_bad_input_and_changes_nothing(
    world: dict[str, Any], admin_user: User
) -> None:
    client = Client()
    client.force_login(admin_user)
    cases = _portal_cases(client, world)
    assert len(cases) > 40  # the sweep found the forms
    before = snapshot()
    for action, data, label in cases:
        answer = client.post(action, data)
        text = answer.content.decode(errors="replace")
        assert answer.status_code < 500, label
        if answer.status_code == 302:
            # The labels pages post and redirect back, with the errors as a flash message.
            text = client.get(answer["Location"]).content.decode(errors="replace")
            assert "message error" in text, label
        elif answer.status_code in (200, 400, 422):
            assert re.search(r"(errorlist|form-errors|has-error|error-text|message error)", text), label
        else:
            assert 400 <= answer.status_code < 500, (label, answer.status_code)
        assert snapshot() == before, label


def test_an_oversize_portal_post_is_a_4xx(world: dict[str, Any], admin_user: User, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    client = Client()
    client.force_login(admin_user)
    before = snapshot()
    answer = client.post("/markets/AU/rules/new/", {"note": "x" * 4096, "action": "hide"})
    assert answer.status_code in (400, 413)
    assert snapshot() == before


# --- REST API writes -----------------------------------------------------------------------------


def _api_writes(client: APIClient, world: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    schema = client.get("/api/schema/?format=json").json()
    writes = []
    for template, operations in schema["paths"].items():
        for method, operation in operations.items():
            if method not in {"post", "put", "patch"} or not template.startswith("/api/v1/"):
                continue
            content = operation.get("requestBody", {}).get("content", {})
            body_schema = (content.get("application/json") or content.get("multipart/form-data") or {}).get(
                "schema", {}
            )
            if "$ref" in body_schema:
                body_schema = schema["components"]["schemas"][body_schema["$ref"].split("/")[-1]]
            path = (
                template.replace("{code}", "AU")
                .replace("{upstream_id}", "vid-ocean")
                .replace("{content_id}", "vid-ocean")
                .replace("{id}", str(world["rule"].pk))
                .replace("{pk}", "1")
            )
            path = re.sub(r"\{[^}]+\}", "1", path)
            writes.append((method, path, body_schema.get("properties", {})))
    return writes


def _bodies(properties: dict[str, Any]) -> list[tuple[Any, str]]:
    if not properties:
        return []  # an action without a body (suspend, sync…) ignores one
    bodies: list[tuple[Any, str]] = [([], "a list"), ("text", "a string"), (12, "a number")]
    if properties:
        bodies.append(({name: HUGE + "\u0000" for name in properties}, "100 kB strings"))
        bodies.append(({name: {"nested": [1]} for name in properties}, "objects for every field"))
        bodies.append(({name: [{"x": None}] for name in properties}, "lists of objects for every field"))
    return bodies


def test_every_api_write_refuses_bad_input_with_field_errors_and_changes_nothing(
    world: dict[str, Any], admin_user: User
) -> None:
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Token {api_token_create(actor=None, user=admin_user, name='t').secret}"
    )
    writes = _api_writes(client, world)
    assert len(writes) > 25
    before = snapshot()
    for method, path, properties in writes:
        for body, label in _bodies(properties):
            answer = client.generic(method.upper(), path, json.dumps(body), "application/json")
            assert 400 <= answer.status_code < 500, (
                method,
                path,
                label,
                answer.status_code,
                answer.content[:200],
            )
            payload = answer.json()
            assert isinstance(payload, dict) and payload, (method, path, label)
            assert snapshot() == before, (method, path, label)


SPECIFIC: list[tuple[str, str, Any, str]] = [
    # (method, path, body, the field the errors must name)
    ("patch", "/api/v1/markets/AU/", {"timezone": "Mars/Olympus_Mons"}, "timezone"),
    ("patch", "/api/v1/markets/AU/", {"languages": ["xx-not-a-language" * 10]}, "languages"),
    ("post", "/api/v1/markets/AU/rules/", {"action": "hide", "match_tags": ["no-such-tag"]}, "match_tags"),
    ("post", "/api/v1/markets/AU/rules/", {"action": "hide", "match_tags": ["ocean"], **WINDOW}, "ends_at"),
    ("post", "/api/v1/markets/AU/rules/", {"action": "hide", "match_tags": "ocean"}, "match_tags"),
    ("put", "/api/v1/markets/AU/positions/vid-ocean/", {"state": "hidden", **WINDOW}, "ends_at"),
    ("put", "/api/v1/markets/AU/positions/vid-ocean/", {"state": "pinned", "slot": "first"}, "slot"),
    (
        "post",
        "/api/v1/markets/AU/positions/bulk/",
        {"content_ids": ["vid-ocean"], "state": "hidden", "markets": ["ZZ-NOPE"]},
        "markets",
    ),
    ("post", "/api/v1/content/vid-ocean/tags/", {"add": ["no-such-tag"]}, "tags"),
    ("post", "/api/v1/tags/", {"slug": "Not A Slug!", "label": "x"}, "slug"),
    ("post", "/api/v1/tokens/", {"name": HUGE}, "name"),
    (
        "post",
        "/api/v1/content/bulk-upsert/",
        {"items": [{"upstream_id": "n-1", "content_type": "article", "published_at": "yesterday"}]},
        "rows",
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "field"), SPECIFIC, ids=[f"{m} {p} {f}" for m, p, _, f in SPECIFIC]
)
def test_specific_bad_values_name_the_field(
    method: str, path: str, body: Any, field: str, world: dict[str, Any], admin_user: User
) -> None:
    client = APIClient()
    client.force_login(admin_user)
    before = snapshot()
    answer = client.generic(method.upper(), path, json.dumps(body), "application/json")
    assert answer.status_code == 400, answer.content[:300]
    assert field in answer.json(), answer.json()
    assert snapshot() == before


def test_a_non_image_upload_is_refused(world: dict[str, Any], admin_user: User) -> None:
    client = APIClient()
    client.force_login(admin_user)
    before = snapshot()
    fake = SimpleUploadedFile("photo.jpg", b"MZ\x90\x00 this is an executable", content_type="image/jpeg")
    answer = client.post("/api/v1/images/upload/", {"files": [fake]}, format="multipart")
    assert 400 <= answer.status_code < 500 and isinstance(answer.json(), dict)
    assert snapshot() == before


def test_an_oversize_api_body_is_a_4xx_not_a_500(
    world: dict[str, Any], admin_user: User, settings: Any
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
    client = APIClient()
    client.force_login(admin_user)
    before = snapshot()
    body = {"items": [{"upstream_id": f"n-{i}", "title": "x" * 1000} for i in range(100)]}
    for key in (None, "oversize-1"):
        extra = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
        answer = client.post("/api/v1/content/bulk-upsert/", body, format="json", **extra)
        assert answer.status_code in (400, 413), answer.status_code
    assert snapshot() == before
