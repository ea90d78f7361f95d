"""The portal side of rights and binding rules: shown in plain words, never editable; the binding
checkbox only for those who may set it; the matrix and the bulk summary explain what overrides."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

from accounts.models import Membership, Role, User
from content.models import ContentItem, Position
from markets.forms import RuleForm
from markets.models import Market, Rule
from portal.audit.models import AuditEntry
from tests.factories import ContentItemFactory, MarketFactory, RuleFactory, TagFactory, UserFactory
from tests.ui.conftest import login

NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture
def fr(db: None) -> Market:
    return MarketFactory(code="FR", name="France", languages=["fr"], timezone="Europe/Paris")


@pytest.fixture
def at(db: None) -> Market:
    return MarketFactory(code="AT", name="Austria", languages=["de"], timezone="Europe/Vienna")


@pytest.fixture
def lukas(de: Market) -> User:
    user = UserFactory(username="lukas")
    Membership.objects.create(user=user, role=Role.MARKET_MANAGER, market=de)
    return user


@pytest.fixture
def at_manager(at: Market) -> User:
    user = UserFactory(username="at-manager")
    Membership.objects.create(user=user, role=Role.MARKET_MANAGER, market=at)
    return user


@pytest.fixture
def youth_rule(de: Market) -> Rule:
    TagFactory(slug="hunting")
    return RuleFactory(market=de, action="hide", match_tags=["hunting"], note="Youth protection")


@pytest.fixture
def documentary(db: None) -> ContentItem:
    return ContentItemFactory(
        upstream_id="doc-fr",
        content_type="video",
        title="Glaciers of the Alps",
        rights_deny=["FR"],
        tag_slugs=["polar"],
    )


@pytest.fixture
def hunting_item(youth_rule: Rule) -> ContentItem:
    return ContentItemFactory(upstream_id="hunt-1", title="Hunting season", tag_slugs=["hunting"])


@time_machine.travel(NOW, tick=False)
def test_the_item_page_says_the_rights_in_plain_words_and_offers_no_way_to_change_them(
    editor: User, fr: Market, de: Market, at: Market
) -> None:
    item = ContentItemFactory(
        upstream_id="doc-1",
        rights_allow=["AT", "DE"],
        rights_deny=["FR"],
        rights_starts_at=datetime(2027, 1, 1, tzinfo=UTC),
    )
    html = login(editor).get(f"/content/items/{item.upstream_id}/").content.decode()
    assert "Only in AT, DE" in html and "Not licensed in FR" in html and "Available from 2027-01-01" in html
    assert "nobody in the portal can change them" in html
    assert 'name="rights' not in html
    # An item without rights says so
    plain = ContentItemFactory(upstream_id="plain-1")
    assert "Everywhere, always" in login(editor).get(f"/content/items/{plain.upstream_id}/").content.decode()


@time_machine.travel(NOW, tick=False)
def test_a_show_in_fr_of_an_item_denied_there_stays_hidden_and_the_matrix_says_why(
    editor: User, admin_user: User, fr: Market, de: Market, documentary: ContentItem
) -> None:
    # The FR cell's form warns before anything is set
    client = login(editor)
    form = client.get(f"/content/items/{documentary.upstream_id}/positions/FR/", HTTP_HX_REQUEST="true")
    assert (
        "Now: Not licensed in FR. A position here is kept, but the item stays hidden" in form.content.decode()
    )
    assert (
        "Now:" not in client.get(f"/content/items/{documentary.upstream_id}/positions/DE/").content.decode()
    )
    # When the editor shows the documentary in FR from its item page
    response = client.post(
        f"/content/items/{documentary.upstream_id}/positions/FR/",
        {"version": 0, "state": "shown", "reason": "Glacier week"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert Position.objects.get(market=fr, item=documentary).state == "shown"
    # Then FR's cell still says hidden, not licensed; DE shows it
    html = login(admin_user).get(f"/content/items/{documentary.upstream_id}/").content.decode()
    fr_row = html.split('id="cell-FR"')[1].split("</tr>")[0]
    de_row = html.split('id="cell-DE"')[1].split("</tr>")[0]
    assert "Not licensed in FR" in fr_row and "badge hidden" in fr_row
    assert "shown — overridden: not licensed here" in fr_row
    assert "Not licensed" not in de_row


def test_the_binding_checkbox_is_only_for_those_who_may_set_it(youth_rule: Rule) -> None:
    with_right = RuleForm(can_set_binding=True)
    without = RuleForm(
        {"action": "hide", "match_tags": "hunting", "binding": "on", "version": 1}, editing=True
    )
    assert "binding" in with_right.fields
    assert "binding" not in without.fields
    assert without.is_valid(), without.errors
    # A form without the checkbox never sends `binding`: the rule keeps what it has
    assert "binding" not in without.service_kwargs()


@time_machine.travel(NOW, tick=False)
def test_lukas_marks_des_hunting_rule_binding_and_an_editors_show_no_longer_shows_the_item(
    lukas: User, editor: User, youth_rule: Rule, hunting_item: ContentItem
) -> None:
    # Given an editor's show of a hunting item in DE, which beats the plain hide rule
    editor_client = login(editor)
    editor_client.post(
        f"/content/items/{hunting_item.upstream_id}/positions/DE/",
        {"version": 0, "state": "shown", "reason": "Alps week"},
        HTTP_HX_REQUEST="true",
    )
    before = editor_client.get(f"/content/items/{hunting_item.upstream_id}/").content.decode()
    before_row = before.split('id="cell-DE"')[1].split("</tr>")[0]
    assert "Shown by position (editor, &#x27;Alps week&#x27;)" in before_row

    # When Lukas opens DE's hunting rule: the form has the binding checkbox and says what it does
    client = login(lukas)
    form = client.get(f"/markets/DE/rules/{youth_rule.pk}/").content.decode()
    assert 'name="binding"' in form and "overrides editors&#x27; positions" in form
    # And he marks it binding
    response = client.post(
        f"/markets/DE/rules/{youth_rule.pk}/",
        {
            "version": 1,
            "action": "hide",
            "match_tags": "hunting",
            "note": "Youth protection",
            "binding": "on",
        },
    )
    assert response.status_code == 302
    youth_rule.refresh_from_db()
    assert youth_rule.binding is True
    assert AuditEntry.objects.filter(action="rule.binding_set", actor=lukas).exists()

    # Then the rule list shows the badge and says that it overrides positions
    market_page = editor_client.get("/markets/DE/").content.decode()
    assert 'class="badge binding"' in market_page
    assert "Binding: overrides editors' positions in DE." in market_page
    # And the editor's show no longer shows the item: the matrix explains why
    after = editor_client.get(f"/content/items/{hunting_item.upstream_id}/").content.decode()
    de_row = after.split('id="cell-DE"')[1].split("</tr>")[0]
    assert f"Hidden by rule #{youth_rule.pk} (binding)" in de_row and "badge hidden" in de_row
    assert "shown — overridden by a binding rule" in de_row


def test_editors_and_managers_of_other_markets_cannot_open_or_post_the_rule_form(
    editor: User, at_manager: User, youth_rule: Rule
) -> None:
    for user in (editor, at_manager):
        client = login(user)
        assert client.get(f"/markets/DE/rules/{youth_rule.pk}/").status_code == 403
        response = client.post(
            f"/markets/DE/rules/{youth_rule.pk}/",
            {"version": 1, "action": "hide", "match_tags": "hunting", "binding": "on"},
        )
        assert response.status_code == 403
    youth_rule.refresh_from_db()
    assert youth_rule.binding is False and youth_rule.version == 1


def test_a_promote_rule_marked_binding_is_an_inline_error(lukas: User, de: Market) -> None:
    TagFactory(slug="ocean")
    response = login(lukas).post(
        "/markets/DE/rules/new/", {"action": "promote", "boost": 2, "match_tags": "ocean", "binding": "on"}
    )
    assert response.status_code == 422
    assert "Only hide rules can be binding" in response.content.decode()
    assert not Rule.objects.exists()


@time_machine.travel(NOW, tick=False)
def test_the_bulk_summary_counts_what_rights_and_binding_rules_keep_hidden(
    editor: User,
    fr: Market,
    de: Market,
    youth_rule: Rule,
    hunting_item: ContentItem,
    documentary: ContentItem,
) -> None:
    youth_rule.binding = True
    youth_rule.save()
    plain = ContentItemFactory(upstream_id="plain-1")
    # When the editor shows three items in DE and FR from the board's bulk panel
    response = login(editor).post(
        "/content/bulk/",
        {"item": [hunting_item.pk, documentary.pk, plain.pk], "markets": ["DE", "FR"], "action": "show"},
        HTTP_HX_REQUEST="true",
    )
    # Then six positions are set, and two will stay hidden, each with its reason
    html = response.content.decode()
    assert response.status_code == 200
    assert "6 positions set, 0 unchanged, 0 refused, 2 will stay hidden" in html
    assert f"<strong>DE</strong>: 1 — binding rule DE #{youth_rule.pk}" in html
    assert "<strong>FR</strong>: 1 — not licensed in FR" in html
