"""Issue 12, the portal as editors see it: errors in editors' words, where they belong; navigation
that offers only what the role may open; moderation categories from Rekognition's taxonomy."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from content.labels.models import MarketModerationPolicy, SectionMapping
from content.labels.services import moderation_policy_set, section_create, section_mapping_set
from content.models import Position
from content.services import PositionChange
from markets.models import Market, Rule
from markets.services import rule_create, rule_update
from tests.factories import RuleFactory, TagFactory
from tests.ui.conftest import login

# --- database constraints never speak to editors ---------------------------------------------


def test_a_rule_with_from_after_until_is_one_field_error_not_a_constraint(
    au_manager: Any, au: Market
) -> None:
    # Given a manager of AU
    client = login(au_manager)
    # When she saves a rule whose window ends before it starts
    response = client.post(
        "/markets/AU/rules/new/",
        {
            "action": "hide",
            "match_sources": "a",
            "starts_at": "2030-03-03T00:00",
            "ends_at": "2030-03-02T00:00",
        },
    )
    # Then the form says so under Until, in editors' words, and nothing is saved
    html = response.content.decode()
    assert response.status_code == 422
    assert "The window must end after it starts." in html
    assert "Constraint" not in html and "violated" not in html
    assert not Rule.objects.exists()


def test_the_rule_services_refuse_a_reversed_window_without_the_constraint_text(au: Market) -> None:
    TagFactory(slug="hunting")
    start = datetime.now(UTC) + timedelta(days=2)
    with pytest.raises(ValidationError) as raised:
        rule_create(
            actor=None, market=au, action="hide", match_tags=["hunting"], starts_at=start, ends_at=start
        )
    assert raised.value.message_dict == {"ends_at": ["The window must end after it starts."]}
    rule = RuleFactory(market=au, action="hide", match_tags=["hunting"])
    with pytest.raises(ValidationError) as raised:
        rule_update(actor=None, rule=rule, starts_at=start, ends_at=start - timedelta(hours=1))
    assert raised.value.message_dict == {"ends_at": ["The window must end after it starts."]}


def test_a_position_with_from_after_until_is_refused_in_editors_words(db: None) -> None:
    start = datetime.now(UTC) + timedelta(days=1)
    with pytest.raises(ValidationError) as raised:
        PositionChange(state="hidden", starts_at=start, ends_at=start).validate()
    assert raised.value.message_dict == {"ends_at": ["The window must end after it starts."]}
    assert not Position.objects.exists()


def test_bands_with_reject_above_accept_are_refused_by_the_service(reviewer: Any) -> None:
    from content.labels.services import bands_set

    with pytest.raises(ValidationError) as raised:
        bands_set(actor=reviewer, section=None, auto_accept=50, auto_reject=80)
    assert "Constraint" not in str(raised.value)


def test_mapping_a_label_twice_or_a_second_policy_for_a_category_updates_instead_of_failing(
    reviewer: Any, admin_user: Any, de: Market
) -> None:
    polar = section_create(actor=reviewer, name="Polar")
    section_mapping_set(actor=reviewer, section=polar, label_name="Glacier", min_confidence=90)
    section_mapping_set(actor=reviewer, section=polar, label_name="glacier", min_confidence=85)
    assert list(SectionMapping.objects.values_list("label_name", "min_confidence")) == [("Glacier", 85.0)]
    moderation_policy_set(actor=admin_user, market=de, category="Violence", block_at=60)
    moderation_policy_set(actor=admin_user, market=de, category="violence", block_at=70)
    assert list(MarketModerationPolicy.objects.values_list("category", "block_at")) == [("Violence", 70.0)]


# --- windows entirely in the past ------------------------------------------------------------


def test_a_window_entirely_in_the_past_is_refused_for_rules_and_positions(
    au_manager: Any, au: Market
) -> None:
    past_end = datetime.now(UTC) - timedelta(hours=1)
    with pytest.raises(ValidationError) as raised:
        PositionChange(state="hidden", ends_at=past_end).validate()
    assert "entirely in the past" in raised.value.message_dict["ends_at"][0]
    response = login(au_manager).post(
        "/markets/AU/rules/new/",
        {
            "action": "hide",
            "match_sources": "a",
            "starts_at": "2020-03-01T00:00",
            "ends_at": "2020-03-02T00:00",
        },
    )
    assert response.status_code == 422
    assert "entirely in the past" in response.content.decode()
    assert not Rule.objects.exists()


# --- section thresholds ----------------------------------------------------------------------


@pytest.fixture
def polar(reviewer: Any) -> Any:
    section = section_create(actor=reviewer, name="Polar")
    section_mapping_set(actor=reviewer, section=section, label_name="Glacier", min_confidence=90)
    return section


@pytest.mark.parametrize("value", ["150", ""])
def test_a_bad_threshold_in_a_mapping_row_is_an_error_in_that_row(
    reviewer: Any, polar: Any, value: str
) -> None:
    mapping = polar.mappings.get()
    # When the reviewer saves 150 (or nothing) as Glacier's threshold
    response = login(reviewer).post(
        reverse("labels:section", args=[polar.pk]),
        {"mapping": mapping.pk, "label_name": "Glacier", "min_confidence": value},
    )
    # Then the row is unchanged and says why, in the row; "Map a label" stays empty
    assert response.status_code == 422
    html = response.content.decode()
    row = html.split(f'id="mapping-{mapping.pk}"', 1)[1].split("</tr>", 1)[0]
    add_form = html.split('id="mapping-add"', 1)[1].split("</form>", 1)[0]
    assert 'class="errorlist"' in row and 'aria-invalid="true"' in row
    assert "errorlist" not in add_form
    assert 'value="Glacier"' not in add_form
    mapping.refresh_from_db()
    assert mapping.min_confidence == 90


def test_a_good_threshold_in_a_mapping_row_saves_that_mapping(reviewer: Any, polar: Any) -> None:
    mapping = polar.mappings.get()
    response = login(reviewer).post(
        reverse("labels:section", args=[polar.pk]),
        {"mapping": mapping.pk, "label_name": "Glacier", "min_confidence": "85"},
    )
    assert response.status_code == 302
    mapping.refresh_from_db()
    assert mapping.min_confidence == 85


# --- navigation shows only what the role can open --------------------------------------------


def test_reviewers_see_no_moderation_link_and_managers_no_queue(
    reviewer: Any, au_manager: Any, au: Market
) -> None:
    # A reviewer's label pages offer the queue and sections, not moderation policies
    html = login(reviewer).get(reverse("labels:queue")).content.decode()
    assert reverse("labels:sections") in html
    assert reverse("labels:moderation") not in html
    assert login(reviewer).get(reverse("labels:moderation")).status_code == 403
    # A market manager's moderation page offers no queue, sections or upload (they are 403)
    manager = login(au_manager)
    html = manager.get(reverse("labels:moderation_market", args=["AU"])).content.decode()
    for name in ("labels:queue", "labels:sections", "labels:upload", "labels:jobs"):
        assert f'href="{reverse(name)}"' not in html
        assert manager.get(reverse(name)).status_code == 403


def test_market_managers_reach_their_moderation_policy_from_the_market_page(
    au_manager: Any, editor: Any, au: Market
) -> None:
    link = f'href="{reverse("labels:moderation_market", args=["AU"])}"'
    assert link in login(au_manager).get("/markets/AU/").content.decode()
    assert link not in login(editor).get("/markets/AU/").content.decode()


# --- moderation categories come from Rekognition's taxonomy ----------------------------------


@pytest.mark.parametrize("category", ["Violense", "<script>alert(1)</script>", "Animals"])
def test_a_category_outside_the_taxonomy_is_refused_by_form_and_service(
    au_manager: Any, au: Market, category: str
) -> None:
    response = login(au_manager).post(
        reverse("labels:moderation_market", args=["AU"]), {"category": category, "block_at": "60"}
    )
    assert response.status_code in (200, 422)
    assert "Select a valid choice" in response.content.decode()
    with pytest.raises(ValidationError) as raised:
        moderation_policy_set(actor=au_manager, market=au, category=category, block_at=60)
    assert "moderation taxonomy" in raised.value.message_dict["category"][0]
    assert not MarketModerationPolicy.objects.exists()


def test_categories_are_offered_as_a_choice_and_saved_in_the_taxonomys_spelling(
    au_manager: Any, au: Market
) -> None:
    html = login(au_manager).get(reverse("labels:moderation_market", args=["AU"])).content.decode()
    assert '<select name="category"' in html
    assert '<option value="Non-Explicit Nudity of Intimate parts and Kissing">' in html
    policy = moderation_policy_set(actor=au_manager, market=au, category="drugs & tobacco", block_at=50)
    assert policy.category == "Drugs & Tobacco"


# --- words: roles, unknown tags, impossible date ranges --------------------------------------


def test_the_dashboard_names_the_market_manager_role_in_two_words(au_manager: Any, au: Market) -> None:
    html = login(au_manager).get("/").content.decode()
    assert '<span class="badge">Market manager</span>' in html
    assert "Marketmanager" not in html


def test_an_unknown_board_tag_is_named_instead_of_no_matches(editor: Any, au: Market, items: list) -> None:
    html = login(editor).get("/content/?market=AU&tag=ocean,oceann").content.decode()
    assert "No tag is named oceann" in html
    html = login(editor).get("/content/?market=AU&tag=ocean").content.decode()
    assert "No tag is named" not in html


def test_an_audit_range_ending_before_it_starts_says_so(editor: Any, au: Market) -> None:
    response = login(editor).get("/audit/?since=2026-03-05&until=2026-03-01")
    html = response.content.decode()
    assert "“Until” is before “From”" in html
    assert "No change matches these filters." not in html


# --- one rule once; one wording for a bad boost ----------------------------------------------


def test_an_identical_rule_is_refused_with_the_rule_it_repeats(au_manager: Any, au: Market) -> None:
    TagFactory(slug="hunting")
    first = rule_create(actor=au_manager, market=au, action="hide", match_tags=["hunting"])
    with pytest.raises(ValidationError) as raised:
        rule_create(actor=au_manager, market=au, action="hide", match_tags=["hunting"], note="again")
    assert raised.value.message_dict["__all__"] == [
        f"Rule #{first.pk} in AU already does exactly this; edit that rule instead."
    ]
    # A different window is a different rule
    later = datetime.now(UTC) + timedelta(days=3)
    rule_create(actor=au_manager, market=au, action="hide", match_tags=["hunting"], starts_at=later)
    assert Rule.objects.filter(market=au).count() == 2


@pytest.mark.parametrize("boost", ["0", "1001"])
def test_a_bad_boost_reads_the_same_in_the_portal_and_the_api(
    editor: Any, au: Market, items: list, boost: str
) -> None:
    from rest_framework.test import APIClient

    message = "Promoting needs a boost between 1 and 1000."
    page = login(editor).post(
        f"/content/items/{items[0].upstream_id}/positions/AU/",
        {"version": 0, "state": "promoted", "boost": boost},
        HTTP_HX_REQUEST="true",
    )
    assert message in page.content.decode()
    api = APIClient()
    api.force_authenticate(editor)
    answer = api.put(
        f"/api/v1/markets/AU/positions/{items[0].upstream_id}/",
        {"state": "promoted", "boost": int(boost)},
        format="json",
    )
    assert answer.status_code == 400
    assert message in str(answer.json())


# --- the item page: history follows inline changes; a new state asks about the old window -----


def test_saving_a_cell_sends_the_refreshed_history_along(editor: Any, au: Market, items: list) -> None:
    response = login(editor).post(
        f"/content/items/{items[0].upstream_id}/positions/AU/",
        {"version": 0, "state": "hidden", "reason": "Legal note"},
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert response.status_code == 200
    history = html.split('id="item-history"', 1)[1]
    assert html.count('id="item-history"') == 1 and 'hx-swap-oob="true"' in history.split(">", 1)[0]
    assert "position.set" in history and "Legal note" in history


@pytest.fixture
def windowed(editor: Any, au: Market, items: list) -> Position:
    from content.services import position_set

    start = datetime.now(UTC) + timedelta(days=1)
    change = PositionChange(state="hidden", starts_at=start, ends_at=start + timedelta(days=7))
    return position_set(actor=editor, market=au, item=items[0], change=change)


def test_a_new_state_for_a_windowed_cell_asks_about_the_window(editor: Any, windowed: Position) -> None:
    url = f"/content/items/{windowed.item.upstream_id}/positions/AU/"
    client = login(editor)
    # The form offers the choice
    assert 'name="window"' in client.get(url, HTTP_HX_REQUEST="true").content.decode()
    posted = {"version": windowed.version, "state": "promoted", "boost": "3"}
    # Saving a new state without answering is a question, not a silent keep
    asked = client.post(url, posted, HTTP_HX_REQUEST="true")
    assert asked.status_code == 422
    assert "keep the window for the new state, or drop it?" in asked.content.decode()
    # Dropping it promotes from now on, with no end
    done = client.post(url, {**posted, "window": "clear"}, HTTP_HX_REQUEST="true")
    assert done.status_code == 200
    windowed.refresh_from_db()
    assert (windowed.state, windowed.starts_at, windowed.ends_at) == ("promoted", None, None)


def test_keeping_the_window_for_a_new_state_keeps_it(editor: Any, windowed: Position) -> None:
    from portal.forms import utc_to_wall

    url = f"/content/items/{windowed.item.upstream_id}/positions/AU/"
    zone = windowed.market.timezone
    starts, ends = windowed.starts_at, windowed.ends_at
    posted = {
        "version": windowed.version,
        "state": "promoted",
        "boost": "3",
        "window": "keep",
        "starts_at": utc_to_wall(starts, zone).strftime("%Y-%m-%dT%H:%M"),
        "ends_at": utc_to_wall(ends, zone).strftime("%Y-%m-%dT%H:%M"),
    }
    assert login(editor).post(url, posted, HTTP_HX_REQUEST="true").status_code == 200
    windowed.refresh_from_db()
    assert windowed.state == "promoted"
    assert windowed.starts_at == starts.replace(second=0, microsecond=0)


def test_token_times_read_like_the_boards_with_utc_on_hover(editor: Any) -> None:
    from accounts.services import api_token_create

    api_token_create(actor=editor, user=editor, name="campaign script")
    html = login(editor).get("/accounts/tokens/").content.decode()
    assert '<time datetime="' in html and ' UTC">' in html
    assert not re.search(r"<td>\d{4}-\d\d-\d\d \d\d:\d\d</td>", html)
