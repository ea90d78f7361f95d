"""The demo data command: idempotent, and every journey's user can log in."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.test import Client

from accounts.access import Action, can, markets_for
from accounts.models import User
from content.models import ContentItem, Position
from markets.models import Market, Rule
from portal.management.commands.demo_data import ALPS_LIVE_ID, FROM_2027_ID, NOT_IN_FR_ID, rights_rows

pytestmark = pytest.mark.django_db


def test_demo_data_is_idempotent_and_complete() -> None:
    call_command("demo_data", items=300)
    counts = (
        Market.objects.count(),
        ContentItem.objects.count(),
        Rule.objects.count(),
        Position.objects.count(),
    )
    call_command("demo_data", items=300, force=True)
    assert (
        Market.objects.count(),
        ContentItem.objects.count(),
        Rule.objects.count(),
        Position.objects.count(),
    ) == counts
    # the items with rights, and the live series licensed in DACH's markets (the group schedule)
    assert counts[0] >= 31 and counts[1] == 300 + len(rights_rows()) + 1
    assert ContentItem.objects.get(upstream_id=ALPS_LIVE_ID).rights_allow == ["AT", "CH", "DE"]
    optus = Market.objects.get(code="AU-OPTUS")
    assert optus.is_opt_in
    assert Rule.objects.filter(market__code="DE", match_tags=["hunting"], binding=True).exists()
    documentary = ContentItem.objects.get(upstream_id=NOT_IN_FR_ID)
    assert documentary.rights_deny == ["FR"]
    assert ContentItem.objects.get(upstream_id=FROM_2027_ID).rights_summary == ["Available from 2027-01-01"]
    # Lukas, who sets DE's rules, is the one who may keep the youth-protection rule binding.
    lukas = User.objects.get(username="de-manager")
    assert can(lukas, Action.SET_BINDING_RULES, Market.objects.get(code="DE"))
    assert not can(
        User.objects.get(username="editor"), Action.SET_BINDING_RULES, Market.objects.get(code="DE")
    )


def test_demo_users_log_in_with_the_demo_password() -> None:
    call_command("demo_data", items=50)
    client = Client()
    for username in ("admin", "editor", "au-manager", "reviewer"):
        assert client.login(username=username, password="meridian-demo"), username
    manager = User.objects.get(username="au-manager")
    assert set(markets_for(manager, Action.EDIT_RULES).values_list("code", flat=True)) == {"AU", "AU-OPTUS"}
    assert can(User.objects.get(username="reviewer"), Action.REVIEW_LABELS)


def test_demo_groups_with_rules_and_positions_once() -> None:
    from content.models import GroupPosition
    from markets.models import GroupRule, MarketGroup

    call_command("demo_data", items=300)
    counts = (MarketGroup.objects.count(), GroupRule.objects.count(), GroupPosition.objects.count())
    call_command("demo_data", items=300, force=True)
    assert (MarketGroup.objects.count(), GroupRule.objects.count(), GroupPosition.objects.count()) == counts
    assert set(MarketGroup.objects.values_list("code", flat=True)) == {"EU", "DACH", "LATAM", "APAC"}
    dach = MarketGroup.objects.get(code="DACH")
    assert sorted(dach.members.values_list("code", flat=True)) == ["AT", "CH", "DE"]
    assert GroupPosition.objects.filter(group__code="EU", state="promoted").count() == 40
    # Lukas manages DACH as a group, so CH too
    lukas = User.objects.get(username="de-manager")
    assert can(lukas, Action.EDIT_RULES, Market.objects.get(code="CH"))
