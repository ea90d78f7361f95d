"""The audit log: scope per role, filters, before/after, keyset paging, links to objects."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from markets.models import Market
from portal.audit.models import AuditEntry
from tests.ui.conftest import login

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def entry(n: int, **fields) -> AuditEntry:
    defaults = {
        "actor_name": "editor",
        "action": "position.set",
        "market_code": "AU",
        "object_type": "position",
        "object_id": f"ng-{n:03d}",
        "object_repr": f"Story {n} in AU",
        "before": None,
        "after": {"state": "hidden"},
    }
    defaults.update(fields)
    created = AuditEntry.objects.create(**defaults)
    AuditEntry.objects.filter(pk=created.pk).update(created_at=T0 - timedelta(minutes=n))
    return created


def objects_on(html: str) -> list[str]:
    return re.findall(r'<span class="sub mono">\w+ ([\w.-]+)</span>', html)


@pytest.fixture
def log(au: Market, de: Market, optus: Market) -> None:
    entry(1, market_code="AU", object_id="ng-001")
    entry(2, market_code="DE", object_id="ng-002", actor_name="lukas")
    entry(
        3,
        market_code="",
        object_type="content",
        object_id="ng-003",
        action="content.tags",
        before={"tags": ["ocean"]},
        after={"tags": ["ocean", "polar"]},
    )
    entry(4, market_code="", object_type="token", object_id="7", action="token.issue", object_repr="ci token")
    entry(
        5,
        market_code="AU",
        object_type="rule",
        object_id="12",
        action="rule.update",
        before={"note": "old", "boost": 0},
        after={"note": "new", "boost": 0},
    )


def test_scope_per_role(log, editor, au_manager, admin_user) -> None:
    assert objects_on(login(admin_user).get("/audit/").content.decode()) == [
        "ng-001",
        "ng-002",
        "ng-003",
        "7",
        "12",
    ]
    assert objects_on(login(editor).get("/audit/").content.decode()) == ["ng-001", "ng-002", "ng-003", "12"]
    assert objects_on(login(au_manager).get("/audit/").content.decode()) == ["ng-001", "ng-003", "12"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("user=LUKAS", ["ng-002"]),
        ("market=AU", ["ng-001", "12"]),
        ("object_type=rule", ["12"]),
        ("object_id=ng-003", ["ng-003"]),
        ("action=position", ["ng-001", "ng-002"]),
        ("action=content.tags", ["ng-003"]),
        ("since=2026-03-01&until=2026-03-01", ["ng-001", "ng-002", "ng-003", "12"]),
        ("until=2026-02-28", []),
    ],
)
def test_filters(log, editor, query: str, expected: list[str]) -> None:
    assert objects_on(login(editor).get(f"/audit/?{query}").content.decode()) == expected


def test_a_market_outside_the_scope_is_refused(log, au_manager) -> None:
    assert login(au_manager).get("/audit/?market=DE").status_code == 403


def test_before_and_after_show_only_what_changed_and_link_to_the_object(log, editor) -> None:
    html = login(editor).get("/audit/?object_type=rule").content.decode()
    assert "note" in html and ">old<" in html and ">new<" in html
    assert ">boost<" not in html
    assert 'href="/markets/AU/"' in html
    html = login(editor).get("/audit/?object_id=ng-003").content.decode()
    assert 'href="/content/items/ng-003/"' in html and "ocean, polar" in html


def test_keyset_pages(au: Market, editor, django_assert_max_num_queries) -> None:
    for n in range(120):
        entry(n)
    client = login(editor)
    seen: list[str] = []
    query = ""
    pages = 0
    while True:
        with django_assert_max_num_queries(8):
            html = client.get(f"/audit/?{query}").content.decode()
        seen += objects_on(html)
        pages += 1
        match = re.search(r'href="\?([^"]*)" rel="next"(?! aria-disabled)', html)
        if not match:
            break
        query = match.group(1).replace("&amp;", "&")
    assert pages == 3 and len(seen) == 120 and len(set(seen)) == 120


def test_a_bulk_change_can_be_shown_alone(editor, au: Market, items: list) -> None:
    client = login(editor)
    html = client.post(
        "/content/bulk/",
        {"item": [items[0].pk, items[1].pk], "markets": ["AU"], "action": "hide"},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    link = re.search(r'href="/audit/\?([^"]+)"', html).group(1)
    entry(50)  # an unrelated change
    shown = objects_on(client.get(f"/audit/?{link}").content.decode())
    assert sorted(shown) == ["ng-000", "ng-001"]
