"""The item page: market × state matrix with the resolver's reasons, cell edits, tags, history."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import time_machine

from content.models import Position
from markets.models import Market
from portal.audit.models import AuditEntry
from tests.factories import PositionFactory, RuleFactory, TagFactory
from tests.ui.conftest import login

NOW = datetime(2026, 3, 2, tzinfo=UTC)


def matrix_codes(html: str) -> list[str]:
    return re.findall(r'<tr id="cell-([\w-]+)"', html)


@time_machine.travel(NOW, tick=False)
def test_matrix_shows_every_visible_market_with_the_reason(editor, au, de, us, optus, items: list) -> None:
    # Given ng-001 (tagged hunting) hidden by a DE rule and by a position in US
    TagFactory(slug="hunting")
    RuleFactory(market=de, action="hide", match_tags=["hunting"], note="Youth protection")
    PositionFactory(market=us, item=items[1], state="hidden", reason="Legal note", author=editor)
    # When the editor opens the item
    html = login(editor).get("/content/items/ng-001/").content.decode()
    # Then every market shows its state and why
    assert matrix_codes(html) == ["AU", "AU-OPTUS", "DE", "US"]
    assert "Hidden by rule #" in html and "(Youth protection)" in html
    assert "Hidden by position (editor, &#x27;Legal note&#x27;)" in html
    assert "Hidden: opt-in market shows only shown, promoted or pinned items" in html
    assert "Visible by default" in html


def test_a_market_manager_sees_only_their_markets(au_manager, de, us, items: list) -> None:
    html = login(au_manager).get("/content/items/ng-001/").content.decode()
    assert matrix_codes(html) == ["AU", "AU-OPTUS"]
    assert ">Change</a>" in html


def test_query_count_of_the_item_page_does_not_grow_with_markets(
    editor, au, de, us, optus, items: list, django_assert_max_num_queries
) -> None:
    client = login(editor)
    client.get("/content/items/ng-001/")
    with django_assert_max_num_queries(12):
        client.get("/content/items/ng-001/")
    for n in range(20):
        Market.objects.create(code=f"X{chr(65 + n)}", name=f"X {n}", languages=["en"])
    with django_assert_max_num_queries(12):
        assert len(matrix_codes(client.get("/content/items/ng-001/").content.decode())) == 24


# Its windows are in March 2026: set them before they end (past windows are refused).
@time_machine.travel(datetime(2026, 3, 1, tzinfo=UTC), tick=False)
def test_hiding_in_au_with_a_local_window(editor, au, us, items: list) -> None:
    client = login(editor)
    # When the editor hides ng-002 in AU from 2 March 06:00 to 5 March 06:00 Sydney time
    response = client.post(
        "/content/items/ng-002/positions/AU/",
        {
            "version": 0,
            "state": "hidden",
            "starts_at": "2026-03-02T06:00",
            "ends_at": "2026-03-05T06:00",
            "reason": "Legal note",
        },
        HTTP_HX_REQUEST="true",
    )
    # Then the row comes back updated, and the window is stored in UTC
    assert response.status_code == 200
    html = response.content.decode()
    assert '<tr id="cell-AU" class="saved">' in html
    assert "02 Mar 2026, 06:00 AEDT" in html and 'title="2026-03-01 19:00 UTC"' in html
    position = Position.objects.get(market=au, item=items[2])
    assert position.starts_at == datetime(2026, 3, 1, 19, 0, tzinfo=UTC)
    assert position.ends_at == datetime(2026, 3, 4, 19, 0, tzinfo=UTC)
    assert AuditEntry.objects.filter(action="position.set", object_id="ng-002", market_code="AU").exists()
    assert "ng-002 in AU: hidden." in html  # the success message rides along out of band


def test_a_stale_version_is_a_conflict_showing_what_changed(editor, au, items: list) -> None:
    # Given someone promoted the item meanwhile (version 1) while the editor's form says version 0
    PositionFactory(market=au, item=items[3], state="promoted", boost=7, reason="Campaign")
    response = login(editor).post(
        "/content/items/ng-003/positions/AU/", {"version": 0, "state": "hidden"}, HTTP_HX_REQUEST="true"
    )
    # Then nothing is overwritten and the form comes back with the current values
    assert response.status_code == 409
    html = response.content.decode()
    assert "This position changed while you were editing it" in html
    assert "boost is now <strong>7</strong>" in html and "reason is now <strong>Campaign</strong>" in html
    assert re.search(r'value="promoted"[^>]*checked', html)
    assert 'name="version" value="1"' in html
    assert Position.objects.get(market=au, item=items[3]).state == "promoted"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"state": "pinned"}, "Give a slot"),
        ({"state": "promoted"}, "Promoting needs a boost between 1 and 1000."),
        (
            {"state": "hidden", "starts_at": "2026-03-05T00:00", "ends_at": "2026-03-01T00:00"},
            "must end after",
        ),
        ({"state": "nonsense"}, "Select a valid choice"),
        ({"state": "hidden", "reason": "x" * 501}, "at most 500 characters"),
    ],
)
def test_bad_cell_input_is_shown_inline(editor, au, items: list, data: dict, message: str) -> None:
    response = login(editor).post(
        "/content/items/ng-003/positions/AU/", {"version": 0, **data}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 422
    assert message in response.content.decode()
    assert not Position.objects.exists()


def test_a_pin_on_a_taken_slot_is_an_inline_error(editor, au, items: list) -> None:
    PositionFactory(market=au, item=items[0], state="pinned", slot=1)
    response = login(editor).post(
        "/content/items/ng-003/positions/AU/",
        {"version": 0, "state": "pinned", "slot": 1},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    assert "Slot 1 in AU is already taken by ng-000" in response.content.decode()


def test_without_htmx_a_save_redirects_to_the_item(editor, au, items: list) -> None:
    response = login(editor).post("/content/items/ng-003/positions/AU/", {"version": 0, "state": "shown"})
    assert response.status_code == 302
    assert response["Location"].endswith("/content/items/ng-003/#cell-AU")


def test_cancel_returns_the_plain_row(editor, au, items: list) -> None:
    html = (
        login(editor)
        .get("/content/items/ng-003/positions/AU/?row=1", HTTP_HX_REQUEST="true")
        .content.decode()
    )
    assert html.startswith('<tr id="cell-AU"') and "Visible by default" in html


def test_tags_add_and_remove(editor, au, items: list) -> None:
    TagFactory(slug="polar")
    client = login(editor)
    html = client.post(
        "/content/items/ng-001/tags/", {"add": "polar"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "<span>polar</span>" in html and "editor</span>" in html
    html = client.post(
        "/content/items/ng-001/tags/", {"remove": "hunting"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "<span>hunting</span>" not in html
    assert set(items[1].tags.values_list("slug", flat=True)) == {"polar"}


def test_an_unknown_tag_is_an_inline_error(editor, au, items: list) -> None:
    response = login(editor).post("/content/items/ng-001/tags/", {"add": "nope"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    assert "Unknown tag(s): nope." in response.content.decode()


def test_history_is_scoped_to_the_readers_markets(editor, au_manager, au, de, items: list) -> None:
    client = login(editor)
    for code in ("AU", "DE"):
        client.post(
            f"/content/items/ng-004/positions/{code}/", {"version": 0, "state": "hidden", "reason": code}
        )
    assert "&#x27;DE&#x27;" not in login(au_manager).get("/content/items/ng-004/").content.decode()
    manager_html = login(au_manager).get("/content/items/ng-004/").content.decode()
    history = manager_html.split('id="history-title"')[1]
    assert "“AU”" in history and "“DE”" not in history
    editor_history = client.get("/content/items/ng-004/").content.decode().split('id="history-title"')[1]
    assert "“AU”" in editor_history and "“DE”" in editor_history
