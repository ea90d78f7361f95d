"""Admins create markets and partner editions (empty or copying another market's rules), and
deactivate and reactivate them: validation, permissions, audit, outbox and the published item."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from accounts.access import AccessDenied, Action, can, markets_for
from accounts.models import Membership, Role, User
from markets.models import Market, Rule
from markets.services import (
    RULE_FIELDS,
    market_activate,
    market_create,
    market_deactivate,
    rule_create,
)
from portal.audit.models import AuditEntry
from portal.errors import Conflict
from portal.shared_tables import config
from portal.shared_tables.models import OutboxEntry
from portal.shared_tables.publisher import drain
from tests.factories import PositionFactory, TagFactory

pytestmark = pytest.mark.django_db

CRITERIA = (
    "action",
    "boost",
    "match_tags",
    "match_content_types",
    "match_sources",
    "starts_at",
    "ends_at",
    "note",
)


@pytest.fixture
def de_rules(de: Market) -> list[Rule]:
    """DE's rules: a youth-protection hide by tag, a windowed promote of videos, a source hide."""
    TagFactory(slug="hunting")
    TagFactory(slug="ocean")
    soon = datetime.now(UTC) + timedelta(days=1)
    return [
        rule_create(actor=None, market=de, action="hide", match_tags=["hunting"], note="Youth protection"),
        rule_create(
            actor=None,
            market=de,
            action="promote",
            boost=3,
            match_tags=["ocean"],
            match_content_types=["video"],
            starts_at=soon,
            ends_at=soon + timedelta(days=7),
            note="Ocean Week",
        ),
        rule_create(actor=None, market=de, action="hide", match_sources=["tabloid-feed"]),
    ]


# --- create ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"code": "ZZ"}, "code"),  # not an ISO 3166-1 country
        ({"code": "DEU"}, "code"),
        ({"code": "QQ-TELEKOM"}, "code"),
        ({"code": "DE-"}, "code"),
        ({"code": ""}, "code"),
        ({"timezone": "Europe/Bonn"}, "timezone"),
        ({"timezone": "CEST"}, "timezone"),
        ({"timezone": "localtime"}, "timezone"),
        ({"languages": []}, "languages"),
        ({"languages": ["de_DE"]}, "languages"),
        ({"name": "  "}, "name"),
        ({"default_visibility": "sometimes"}, "default_visibility"),
    ],
)
def test_create_refuses_bad_values_with_field_errors(
    admin_user: User, values: dict[str, Any], field: str
) -> None:
    # Given an admin and a new market with one bad value
    data: dict[str, Any] = {
        "code": "DE-TELEKOM",
        "name": "Telekom",
        "languages": ["de"],
        "timezone": "Europe/Berlin",
        **values,
    }

    # When they create it, then the service names the field and nothing is written
    with pytest.raises(ValidationError) as error:
        market_create(actor=admin_user, **data)
    assert field in error.value.message_dict
    assert not Market.objects.exists()
    assert not AuditEntry.objects.exists() and not OutboxEntry.objects.exists()


def test_create_refuses_a_code_already_taken(admin_user: User, optus: Market) -> None:
    # Given AU-OPTUS exists
    # When an admin creates it again (in another letter case)
    with pytest.raises(ValidationError) as error:
        market_create(actor=admin_user, code="au-optus", name="Optus again", languages=["en"])

    # Then the code field says so, and the existing market is untouched
    assert error.value.message_dict["code"] == ["There is already a market AU-OPTUS: choose another code."]
    assert Market.objects.get(code="AU-OPTUS").name == "Optus"


def test_admin_creates_an_opt_in_partner_edition(admin_user: User) -> None:
    # When an admin creates DE-TELEKOM as opt-in
    market = market_create(
        actor=admin_user,
        code="DE-TELEKOM",
        name="Telekom (Germany)",
        languages=["de", "en"],
        timezone="Europe/Berlin",
        default_visibility="opt_in",
    )

    # Then it is active, opt-in, at version 1, audited and queued for publishing
    market.refresh_from_db()
    assert (market.active, market.is_opt_in, market.version) == (True, True, 1)
    entry = AuditEntry.objects.get(action="market.create")
    assert (entry.market_code, entry.actor_id, entry.after["default_visibility"]) == (
        "DE-TELEKOM",
        admin_user.pk,
        "opt_in",
    )
    assert OutboxEntry.objects.filter(kind="market", key="DE-TELEKOM", version=1).count() == 1


def test_copy_makes_new_rules_with_identical_criteria(
    admin_user: User, de: Market, de_rules: list[Rule]
) -> None:
    # Given DE with three rules, one of them edited to version 2
    from markets.services import rule_update

    rule_update(actor=None, rule=de_rules[2], note="Tabloids stay out")

    # When an admin creates DE-TELEKOM copying DE's rules, leaving languages and time zone out
    market = market_create(
        actor=admin_user, code="DE-TELEKOM", name="Telekom", default_visibility="opt_in", copy_rules_from=de
    )

    # Then every rule is copied with the same criteria, as new rules at version 1 by the admin
    originals = list(Rule.objects.filter(market=de).order_by("id"))
    copies = list(Rule.objects.filter(market=market).order_by("id"))
    assert [[getattr(r, f) for f in CRITERIA] for r in copies] == [
        [getattr(r, f) for f in CRITERIA] for r in originals
    ]
    assert not {c.pk for c in copies} & {o.pk for o in originals}
    assert {c.version for c in copies} == {1} and {c.author_id for c in copies} == {admin_user.pk}
    # And DE's rules are unchanged
    assert [r.market_id for r in originals] == [de.pk] * 3
    # And the settings left out come from DE, the ones given do not
    assert (market.languages, market.timezone, market.default_visibility) == (
        ["de"],
        "Europe/Berlin",
        "opt_in",
    )
    # And each copy is audited as a copy naming its source rule, in one batch
    copied = list(AuditEntry.objects.filter(action="rule.copy").order_by("id"))
    assert [(e.object_id, e.after["copied_from"]) for e in copied] == [
        (str(c.pk), {"market": "DE", "rule": o.pk}) for c, o in zip(copies, originals, strict=True)
    ]
    assert len({e.batch for e in copied}) == 1
    assert copied[0].after["note"] == "Youth protection"
    assert set(copied[0].after) >= set(RULE_FIELDS)
    created = AuditEntry.objects.get(action="market.create")
    assert created.after["copied_from"] == {"market": "DE", "rules": 3}
    # And one market row in the outbox carries the new market with its rules
    assert list(OutboxEntry.objects.filter(key="DE-TELEKOM").values_list("kind", "version")) == [
        ("market", 1)
    ]


def test_copied_rules_are_published_with_the_new_market(
    admin_user: User, de: Market, de_rules: list[Rule], settings: Any, tmp_path: Path
) -> None:
    # Given the embedded shared tables
    settings.SHARED_TABLES_BACKEND = "local"
    settings.SHARED_TABLES_LOCAL_PATH = tmp_path / "shared.sqlite3"
    config.forget()
    try:
        # When DE-TELEKOM is created from DE and the outbox is drained
        market_create(actor=admin_user, code="DE-TELEKOM", name="Telekom", copy_rules_from=de)
        drain()

        # Then its item lists the three copied rules with DE's matches
        item = config.shared_tables().get_item("markets", ("DE-TELEKOM",))
        source = config.shared_tables().get_item("markets", ("DE",))
    finally:
        config.forget()
    assert item is not None and source is not None
    assert item["active"] is True
    assert [r["match"] for r in item["rules"]] == [r["match"] for r in source["rules"]]
    assert {r["id"] for r in item["rules"]}.isdisjoint({r["id"] for r in source["rules"]})


@pytest.mark.parametrize("role", ["editor", "au_manager", "reviewer", "nobody"])
def test_only_admins_create_markets(request: pytest.FixtureRequest, role: str, au: Market) -> None:
    # Given a user who is no admin
    user: User = request.getfixturevalue(role)

    # When they create a market (even copying one they manage), then they are refused
    with pytest.raises(AccessDenied):
        market_create(actor=user, code="NZ", name="New Zealand", languages=["en"], copy_rules_from=au)
    assert not Market.objects.filter(code="NZ").exists()
    assert not AuditEntry.objects.exists()


# --- deactivate and reactivate -------------------------------------------------------------------------


def test_deactivate_publishes_the_flag_and_keeps_rules_and_positions(
    admin_user: User, de: Market, de_rules: list[Rule]
) -> None:
    # Given DE with rules and a position
    PositionFactory(market=de, state="hidden")
    version = Market.objects.get(pk=de.pk).version

    # When an admin deactivates it
    market = market_deactivate(actor=admin_user, market=de, expected_version=version)

    # Then it is inactive at a new version, queued for publishing and audited
    assert (market.active, market.version) == (False, version + 1)
    assert OutboxEntry.objects.filter(kind="market", key="DE", version=version + 1).exists()
    entry = AuditEntry.objects.get(action="market.deactivate")
    assert (entry.before["active"], entry.after["active"], entry.actor_id) == (True, False, admin_user.pk)
    # And its rules and positions stay
    assert de.rules.count() == 3 and de.positions.count() == 1

    # When it is deactivated again, nothing more is written
    market_deactivate(actor=admin_user, market=de)
    assert AuditEntry.objects.filter(action="market.deactivate").count() == 1

    # When an admin reactivates it, it is active at the next version, audited and queued
    market = market_activate(actor=admin_user, market=de)
    assert (market.active, market.version) == (True, version + 2)
    assert AuditEntry.objects.filter(action="market.activate", market_code="DE").count() == 1
    assert OutboxEntry.objects.filter(kind="market", key="DE", version=version + 2).exists()


def test_deactivate_with_a_stale_version_is_a_conflict(admin_user: User, de: Market) -> None:
    # Given DE was changed since the admin opened it
    market_deactivate(actor=admin_user, market=de)
    market_activate(actor=admin_user, market=de)

    # When they deactivate it against version 1, then it is refused and stays active
    with pytest.raises(Conflict):
        market_deactivate(actor=admin_user, market=de, expected_version=1)
    assert Market.objects.get(pk=de.pk).active


@pytest.mark.parametrize("role", ["editor", "au_manager", "reviewer", "nobody"])
def test_only_admins_deactivate_or_reactivate(request: pytest.FixtureRequest, role: str, au: Market) -> None:
    # Given a user who is no admin (the AU manager manages AU)
    user: User = request.getfixturevalue(role)

    # When they deactivate AU, or reactivate it once an admin deactivated it, they are refused
    with pytest.raises(AccessDenied):
        market_deactivate(actor=user, market=au)
    Market.objects.filter(pk=au.pk).update(active=False)
    au.refresh_from_db()
    with pytest.raises(AccessDenied):
        market_activate(actor=user, market=au)
    assert not Market.objects.get(pk=au.pk).active
    assert not AuditEntry.objects.exists()


def test_an_inactive_market_stays_visible_but_is_no_choice_for_changes(
    admin_user: User, au_manager: User, au: Market, optus: Market
) -> None:
    # Given AU is inactive
    market_deactivate(actor=admin_user, market=au)
    au.refresh_from_db()

    # Then its manager still sees it, but may change nothing in it (nor may the admin)
    assert can(au_manager, Action.VIEW_MARKET, au)
    for action in (Action.EDIT_POSITIONS, Action.EDIT_RULES, Action.EDIT_MARKET_SETTINGS):
        assert not can(au_manager, action, au) and not can(admin_user, action, au)
        assert list(markets_for(au_manager, action)) == [optus]
    assert set(markets_for(au_manager, Action.VIEW_MARKET)) == {au, optus}


def test_a_role_granted_on_a_new_partner_edition_shows_it_to_its_holder(
    admin_user: User, de: Market, de_rules: list[Rule]
) -> None:
    # Given Lukas manages DE, and an admin created DE-TELEKOM from DE
    from accounts.services import membership_grant

    lukas = User.objects.create(username="de-manager", first_name="Lukas")
    Membership.objects.create(user=lukas, role=Role.MARKET_MANAGER, market=de)
    telekom = market_create(actor=admin_user, code="DE-TELEKOM", name="Telekom", copy_rules_from=de)
    assert not can(lukas, Action.VIEW_MARKET, telekom)

    # When the admin grants him the market manager role on it
    membership_grant(actor=admin_user, user=lukas, role=Role.MARKET_MANAGER, market=telekom)

    # Then he sees it and may edit its rules
    assert can(lukas, Action.VIEW_MARKET, telekom) and can(lukas, Action.EDIT_RULES, telekom)


# --- New markets and market groups ---------------------------------------------------------------


def test_a_copy_joins_the_source_s_groups_and_the_groups_asked_for(
    admin_user: User, dach: Any, dach_markets: dict[str, Market], fr: Market
) -> None:
    from markets.groups.services import group_create, market_create_in_groups

    # Given DE in DACH, a retired group DE was in, and EU without DE
    old = group_create(actor=None, code="OLDDE", name="Old", priority=5, members=[dach_markets["DE"]])
    old.active = False
    old.save()
    eu = group_create(actor=None, code="EU", name="European Union", priority=50, members=[fr])

    # When an admin creates DE-TELEKOM as a copy of DE, joining EU too
    telekom = market_create_in_groups(
        actor=admin_user, code="DE-TELEKOM", name="Telekom", copy_from=dach_markets["DE"], groups=[eu]
    )

    # Then it is in DACH (the source's active group) and EU, each membership audited
    assert sorted(telekom.market_groups.values_list("code", flat=True)) == ["DACH", "EU"]
    joined = AuditEntry.objects.filter(object_repr__contains="DE-TELEKOM joined").count()
    assert joined == 2


def test_a_market_cannot_take_a_group_s_code(admin_user: User, dach: Any) -> None:
    with pytest.raises(ValidationError) as refused:
        market_create(actor=admin_user, code="DACH", name="Not a market", languages=["de"])
    assert "market group" in str(refused.value.message_dict["code"])


def test_the_api_creates_a_market_in_groups_and_refuses_unknown_ones(admin_user: User, dach: Any) -> None:
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(admin_user)
    bad = client.post(
        "/api/v1/markets/",
        {"code": "LI", "name": "Liechtenstein", "languages": ["de"], "groups": ["NOPE"]},
        format="json",
    )
    assert bad.status_code == 400 and "NOPE" in str(bad.json()["groups"])
    assert not Market.objects.filter(code="LI").exists()
    made = client.post(
        "/api/v1/markets/",
        {"code": "LI", "name": "Liechtenstein", "languages": ["de"], "groups": ["DACH"]},
        format="json",
    )
    assert made.status_code == 201
    assert list(Market.objects.get(code="LI").market_groups.values_list("code", flat=True)) == ["DACH"]
