"""Market pages: settings with optimistic concurrency, the rule editor, preview, pinned slots."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from markets.models import Market, Rule
from portal.audit.models import AuditEntry
from tests.factories import PositionFactory, RuleFactory, TagFactory
from tests.ui.conftest import BASE, login

NOW = datetime(2026, 3, 2, tzinfo=UTC)


def settings_data(market: Market, **changes: object) -> dict:
    data = {
        "version": market.version,
        "name": market.name,
        "languages": ", ".join(market.languages),
        "timezone": market.timezone,
        "default_visibility": market.default_visibility,
        "active": "on",
    }
    data.update(changes)
    return data


def test_a_manager_changes_settings(au_manager, au: Market) -> None:
    client = login(au_manager)
    response = client.post(
        "/markets/AU/settings/", settings_data(au, languages="en, en-AU", timezone="Australia/Perth")
    )
    assert response.status_code == 302
    au.refresh_from_db()
    assert au.languages == ["en", "en-AU"] and au.timezone == "Australia/Perth"
    assert AuditEntry.objects.filter(action="market.update", market_code="AU").exists()
    assert "Settings of AU saved." in client.get(response["Location"]).content.decode()


def test_settings_conflict_shows_what_changed_meanwhile(au_manager, au: Market) -> None:
    stale = settings_data(au, name="Australia (new)")
    # Someone else changes the time zone first
    Market.objects.filter(pk=au.pk).update(timezone="Australia/Perth", version=au.version + 1)
    response = login(au_manager).post("/markets/AU/settings/", stale)
    assert response.status_code == 409
    html = response.content.decode()
    assert "Someone changed these settings" in html
    assert "timezone is now <strong>Australia/Perth</strong>" in html
    assert f'name="version" value="{au.version + 1}"' in html
    au.refresh_from_db()
    assert au.name == "Australia"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"languages": "xx-invalid-!"}, "language"),
        ({"timezone": "Mars/Olympus"}, "Select a valid choice"),
        ({"name": ""}, "This field is required"),
    ],
)
def test_bad_settings_are_inline_errors(au_manager, au: Market, changes: dict, message: str) -> None:
    response = login(au_manager).post("/markets/AU/settings/", settings_data(au, **changes))
    assert response.status_code == 422
    assert message in response.content.decode()


def test_a_manager_adds_a_hide_rule_with_a_local_window(au_manager, au: Market) -> None:
    TagFactory(slug="hunting")
    client = login(au_manager)
    response = client.post(
        "/markets/AU/rules/new/",
        {
            "action": "hide",
            "match_tags": "hunting",
            "match_content_types": ["video"],
            "starts_at": "2026-03-02T06:00",
            "note": "Youth protection review",
        },
    )
    assert response.status_code == 302
    rule = Rule.objects.get(market=au)
    assert rule.match_tags == ["hunting"] and rule.match_content_types == ["video"]
    assert rule.starts_at == datetime(2026, 3, 1, 19, 0, tzinfo=UTC) and rule.ends_at is None
    assert rule.author == au_manager
    page = client.get("/markets/AU/").content.decode()
    assert "types video and tags hunting" in page and "Youth protection review" in page
    assert "02 Mar 2026, 06:00 AEDT" in page


@pytest.mark.parametrize(
    ("data", "field_error"),
    [
        ({"action": "hide", "match_tags": "nope"}, "Unknown tag(s): nope."),
        ({"action": "hide"}, "Name at least one tag, content type or source"),
        ({"action": "promote", "match_sources": "archive"}, "A promote rule needs a boost"),
        (
            {
                "action": "hide",
                "match_sources": "a",
                "starts_at": "2026-03-03T00:00",
                "ends_at": "2026-03-02T00:00",
            },
            "must end after",
        ),
        (
            {"action": "hide", "match_sources": "a", "starts_at": "2026-10-04T02:30"},
            "does not exist in Australia/Sydney",
        ),
    ],
)
def test_bad_rules_are_inline_errors(au_manager, au: Market, data: dict, field_error: str) -> None:
    response = login(au_manager).post("/markets/AU/rules/new/", data)
    assert response.status_code == 422
    assert field_error in response.content.decode()
    assert not Rule.objects.exists()


def test_editing_a_rule_with_a_stale_version_is_a_conflict(au_manager, au: Market) -> None:
    TagFactory(slug="hunting")
    rule = RuleFactory(market=au, action="hide", match_tags=["hunting"], note="first")
    client = login(au_manager)
    form = client.get(f"/markets/AU/rules/{rule.pk}/").content.decode()
    assert 'value="hunting"' in form and 'name="version" value="1"' in form
    Rule.objects.filter(pk=rule.pk).update(note="changed meanwhile", version=2)
    response = client.post(
        f"/markets/AU/rules/{rule.pk}/",
        {"version": 1, "action": "hide", "match_tags": "hunting", "note": "mine"},
    )
    assert response.status_code == 409
    assert "note is now <strong>changed meanwhile</strong>" in response.content.decode()
    # With the current version the edit goes through
    response = client.post(
        f"/markets/AU/rules/{rule.pk}/",
        {"version": 2, "action": "hide", "match_tags": "hunting", "note": "mine"},
    )
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.note == "mine" and rule.version == 3


def test_deleting_a_rule(au_manager, au: Market) -> None:
    rule = RuleFactory(market=au, action="hide", match_tags=["hunting"])
    client = login(au_manager)
    assert "Delete rule #" in client.get(f"/markets/AU/rules/{rule.pk}/delete/").content.decode()
    response = client.post(f"/markets/AU/rules/{rule.pk}/delete/", {"version": rule.version})
    assert response.status_code == 302
    assert not Rule.objects.filter(pk=rule.pk).exists()
    assert AuditEntry.objects.filter(action="rule.delete").exists()


def test_deleting_a_changed_rule_is_refused(au_manager, au: Market) -> None:
    rule = RuleFactory(market=au, action="hide", match_tags=["hunting"])
    response = login(au_manager).post(f"/markets/AU/rules/{rule.pk}/delete/", {"version": 99}, follow=True)
    assert "Nothing was deleted." in response.content.decode()
    assert Rule.objects.filter(pk=rule.pk).exists()


def test_editors_see_rules_but_no_rule_buttons(editor, au: Market) -> None:
    RuleFactory(market=au, action="hide", match_tags=["hunting"])
    html = login(editor).get("/markets/AU/").content.decode()
    assert "tags hunting" in html
    assert "Add a rule" not in html and ">Edit</a>" not in html and ">Settings</a>" not in html


# --- preview ---------------------------------------------------------------------------------


def preview_ids(html: str, table: str) -> list[str]:
    part = html.split(f'id="{table}"')[1].split("</table>")[0] if f'id="{table}"' in html else ""
    return re.findall(r'<span class="sub mono">([\w-]+)</span>', part)


@time_machine.travel(NOW, tick=False)
def test_preview_orders_like_the_resolver_and_explains(editor, au: Market, us: Market, items: list) -> None:
    # Given ng-002 hidden in AU for a week from now, ng-005 pinned to slot 1, ng-004 promoted
    PositionFactory(market=au, item=items[2], state="hidden", reason="Legal", ends_at=NOW + timedelta(days=7))
    PositionFactory(market=au, item=items[5], state="pinned", slot=1)
    PositionFactory(market=au, item=items[4], state="promoted", boost=5)
    client = login(editor)
    # When the editor previews AU now with hidden items shown
    html = client.get("/markets/AU/preview/?hidden=on&limit=10").content.decode()
    visible = preview_ids(html, "preview-visible")
    # Then the pin is first, the promoted item next, the hidden one is listed with its reason
    assert visible[:3] == ["ng-005", "ng-004", "ng-000"]
    assert "ng-002" not in visible and len(visible) == 10
    assert preview_ids(html, "preview-hidden") == ["ng-002"]
    assert "Hidden by position (&#x27;Legal&#x27;)" in html
    # And US still shows it
    assert "ng-002" in preview_ids(
        client.get("/markets/US/preview/?limit=25").content.decode(), "preview-visible"
    )


@time_machine.travel(NOW, tick=False)
def test_preview_at_a_later_time_in_market_time(editor, au: Market, items: list) -> None:
    PositionFactory(market=au, item=items[2], state="hidden", ends_at=NOW + timedelta(days=1))
    client = login(editor)
    # 10 March 09:00 in Sydney is after the window: the item is back
    html = client.get("/markets/AU/preview/?at=2026-03-10T09:00&limit=25").content.decode()
    assert "ng-002" in preview_ids(html, "preview-visible")
    assert (
        'at <time datetime="2026-03-09T22:00:00+00:00" title="2026-03-09 22:00 UTC">10 Mar 2026, 09:00 AEDT'
        in html
    )


def test_preview_without_hidden_has_no_hidden_table(editor, au: Market, items: list) -> None:
    html = login(editor).get("/markets/AU/preview/").content.decode()
    assert 'id="preview-hidden"' not in html and "What users in AU see now" in html


def test_a_bad_preview_time_is_an_inline_error(editor, au: Market, items: list) -> None:
    response = login(editor).get("/markets/AU/preview/?at=someday")
    assert response.status_code == 422
    assert "Enter a date and time" in response.content.decode()


def test_preview_htmx_returns_results_only(editor, au: Market, items: list) -> None:
    html = login(editor).get("/markets/AU/preview/?limit=10", HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in html and len(preview_ids(html, "preview-visible")) == 10


def test_preview_query_budget(editor, au: Market, items: list, django_assert_max_num_queries) -> None:
    client = login(editor)
    client.get("/markets/AU/preview/")
    # One more than before groups: the market's groups are read with its rules.
    with django_assert_max_num_queries(13):
        client.get("/markets/AU/preview/?limit=200&hidden=on")


# --- pinned slots ----------------------------------------------------------------------------


def test_pins_are_listed_in_slot_order_and_move_with_a_swap(editor, au: Market, items: list) -> None:
    first = PositionFactory(market=au, item=items[0], state="pinned", slot=1)
    second = PositionFactory(market=au, item=items[1], state="pinned", slot=2)
    client = login(editor)
    html = client.get("/markets/AU/").content.decode()
    assert html.index("ng-000") < html.index("ng-001")
    response = client.post(
        f"/markets/AU/pins/{second.pk}/move/",
        {"direction": "up", "version": second.version},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.index("ng-001") < html.index("ng-000")
    assert "ng-001 is now in slot 1 in AU." in html
    first.refresh_from_db(), second.refresh_from_db()
    assert (first.slot, second.slot) == (2, 1)


def test_moving_a_stale_pin_says_so(editor, au: Market, items: list) -> None:
    pin = PositionFactory(market=au, item=items[0], state="pinned", slot=3)
    response = login(editor).post(
        f"/markets/AU/pins/{pin.pk}/move/", {"direction": "up", "version": 99}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 409
    assert "was changed meanwhile" in response.content.decode()


def test_the_top_pin_cannot_move_up(editor, au: Market, items: list) -> None:
    pin = PositionFactory(market=au, item=items[0], state="pinned", slot=1)
    response = login(editor).post(
        f"/markets/AU/pins/{pin.pk}/move/",
        {"direction": "up", "version": pin.version},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    assert "already at the top" in response.content.decode()


def test_market_list_counts(editor, au: Market, de: Market, items: list) -> None:
    PositionFactory(market=au, item=items[0], state="hidden")
    html = login(editor).get("/markets/").content.decode()
    assert "/content/?market=AU&state=hidden" in html.replace("&amp;", "&")
    assert BASE.year == 2026
