"""Market groups: codes, members, rules; who may change them; audit and outbox rows."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from accounts.access import AccessDenied, Action, can, can_in_group, forget_grants
from accounts.models import Role, User
from accounts.services import membership_grant
from markets.codes import group_code_error
from markets.groups.services import (
    group_create,
    group_member_add,
    group_member_remove,
    group_members_set,
    group_rule_create,
    group_rule_delete,
    group_rule_update,
    group_update,
)
from markets.models import GroupRule, Market, MarketGroup
from markets.services import market_create
from portal.audit.models import AuditEntry
from portal.errors import Conflict
from portal.shared_tables.models import OutboxEntry, OutboxKind
from tests.factories import MarketFactory
from tests.groups import person

pytestmark = pytest.mark.django_db


def outbox_keys() -> list[tuple[str, str, int]]:
    return list(OutboxEntry.objects.order_by("id").values_list("kind", "key", "version"))


# --- codes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["EU", "DACH", "LATAM", "APAC", "OPTUS-PARTNERS", "G7"])
def test_group_codes_that_no_market_can_have_are_valid(code: str) -> None:
    assert group_code_error(code) is None


@pytest.mark.parametrize("code", ["DE", "AU-OPTUS", "dach", "D", "EU_WEST", "-EU", "A" * 21, "", "EU-"])
def test_market_codes_and_malformed_codes_are_refused_as_group_codes(code: str) -> None:
    assert group_code_error(code) is not None


def test_an_admin_creates_a_group_and_a_market_code_is_refused(admin_user: User, de: Market) -> None:
    # When an admin creates DACH with DE
    group = group_create(actor=admin_user, code=" dach ", name="DACH", members=[de])
    # Then it exists, upper-cased, with DE as member
    assert group.code == "DACH"
    assert list(group.members.values_list("code", flat=True)) == ["DE"]
    # And a market code is refused as a group code
    with pytest.raises(ValidationError) as error:
        group_create(actor=admin_user, code="DE", name="Germany")
    assert "market code" in str(error.value)
    # And a group code is refused twice
    with pytest.raises(ValidationError):
        group_create(actor=admin_user, code="DACH", name="Again")


def test_a_market_cannot_take_a_group_code(admin_user: User, dach: MarketGroup) -> None:
    # A group code is never a valid market code, whichever is created first
    with pytest.raises(ValidationError) as error:
        market_create(actor=admin_user, code="DACH", name="Dach", languages=["de"])
    assert "code" in error.value.message_dict


def test_creating_a_group_writes_one_group_item_and_republishes_the_members(admin_user: User) -> None:
    de = MarketFactory(code="DE")
    at = MarketFactory(code="AT")
    OutboxEntry.objects.all().delete()
    group = group_create(actor=admin_user, code="DACH", name="DACH", priority=5, members=[de, at])
    rows = outbox_keys()
    assert (OutboxKind.MARKET, "DACH", group.version) in rows
    assert {key for _, key, _ in rows} == {"DACH", "DE", "AT"}
    actions = list(AuditEntry.objects.order_by("id").values_list("action", "object_repr"))
    assert ("group.create", "DACH — DACH") in actions
    assert ("group.member_join", "AT joined DACH") in actions
    assert ("group.member_join", "DE joined DACH") in actions


# --- members -------------------------------------------------------------------------------


def test_members_join_and_leave_audited_and_published(
    admin_user: User, dach: MarketGroup, fr: Market
) -> None:
    OutboxEntry.objects.all().delete()
    de = Market.objects.get(code="DE")
    version = dach.version
    # When FR joins and DE leaves
    joined, left = group_members_set(actor=admin_user, group=dach, add=[fr], remove=[de])
    # Then the members, the audit log ("FR joined DACH", "DE left DACH") and the outbox say so
    assert (joined, left) == (["FR"], ["DE"])
    assert sorted(dach.members.values_list("code", flat=True)) == ["AT", "CH", "FR"]
    reprs = set(AuditEntry.objects.values_list("object_repr", flat=True))
    assert {"FR joined DACH", "DE left DACH"} <= reprs
    assert AuditEntry.objects.get(object_repr="DE left DACH").market_code == "DE"
    dach.refresh_from_db()
    assert dach.version == version + 1
    assert {key for _, key, _ in outbox_keys()} == {"DACH", "FR", "DE"}
    # And joining twice changes nothing
    OutboxEntry.objects.all().delete()
    assert group_member_add(actor=admin_user, group=dach, market=fr) is False
    assert group_member_remove(actor=admin_user, group=dach, market=de) is False
    assert outbox_keys() == []


def test_only_admins_change_groups_and_members(dach: MarketGroup, fr: Market) -> None:
    de = Market.objects.get(code="DE")
    manager = person("lukas", Role.MARKET_MANAGER, *Market.objects.filter(code__in=["DE", "AT", "CH", "FR"]))
    for attempt in (
        lambda: group_create(actor=manager, code="EU", name="EU"),
        lambda: group_update(actor=manager, group=dach, name="Renamed"),
        lambda: group_member_add(actor=manager, group=dach, market=fr),
        lambda: group_member_remove(actor=manager, group=dach, market=de),
    ):
        with pytest.raises(AccessDenied):
            attempt()
    assert not MarketGroup.objects.filter(code="EU").exists()
    assert dach.members.count() == 3


def test_renaming_is_one_write_while_priority_and_retiring_republish_members(
    admin_user: User, dach: MarketGroup
) -> None:
    OutboxEntry.objects.all().delete()
    group_update(actor=admin_user, group=dach, name="D-A-CH")
    assert [key for _, key, _ in outbox_keys()] == ["DACH"]
    OutboxEntry.objects.all().delete()
    group_update(actor=admin_user, group=dach, priority=3)
    assert {key for _, key, _ in outbox_keys()} == {"DACH", "DE", "AT", "CH"}
    OutboxEntry.objects.all().delete()
    group_update(actor=admin_user, group=dach, active=False)
    assert {key for _, key, _ in outbox_keys()} == {"DACH", "DE", "AT", "CH"}
    dach.refresh_from_db()
    assert not dach.active
    with pytest.raises(Conflict):
        group_update(actor=admin_user, group=dach, name="Stale", expected_version=1)


def test_bad_group_values_are_field_errors(admin_user: User, dach: MarketGroup) -> None:
    with pytest.raises(ValidationError) as error:
        group_update(actor=admin_user, group=dach, priority=100_000)
    assert "priority" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        group_create(actor=admin_user, code="EU", name="")
    assert "name" in error.value.message_dict


# --- rules and access ----------------------------------------------------------------------


def test_a_manager_of_every_member_sets_group_rules_one_write(dach: MarketGroup) -> None:
    manager = person("lukas", Role.MARKET_MANAGER, *Market.objects.filter(code__in=["DE", "AT", "CH"]))
    OutboxEntry.objects.all().delete()
    rule = group_rule_create(actor=manager, group=dach, action="hide", match_sources=["gossip"], binding=True)
    # One group row and one shared-table write, however many members
    assert outbox_keys() == [(OutboxKind.MARKET, "DACH", dach.version + 1)]
    entry = AuditEntry.objects.get(action="group_rule.create")
    assert entry.market_code == "DACH"
    assert "(binding)" in entry.object_repr
    rule = group_rule_update(actor=manager, rule=rule, note="court order", expected_version=1)
    assert rule.version == 2
    with pytest.raises(Conflict):
        group_rule_update(actor=manager, rule=rule, note="stale", expected_version=1)
    group_rule_delete(actor=manager, rule=rule)
    assert not GroupRule.objects.exists()


def test_a_manager_of_de_only_cannot_edit_dach_rules(dach: MarketGroup) -> None:
    manager = person("de-only", Role.MARKET_MANAGER, Market.objects.get(code="DE"))
    assert can(manager, Action.EDIT_RULES, Market.objects.get(code="DE"))
    assert not can_in_group(manager, Action.EDIT_RULES, dach)
    with pytest.raises(AccessDenied) as error:
        group_rule_create(actor=manager, group=dach, action="hide", match_sources=["gossip"])
    assert "group DACH" in str(error.value)
    rule = group_rule_create(actor=None, group=dach, action="hide", match_sources=["gossip"])
    with pytest.raises(AccessDenied):
        group_rule_update(actor=manager, rule=rule, note="x")
    with pytest.raises(AccessDenied):
        group_rule_delete(actor=manager, rule=rule)
    # Editors never set rules, not even with every member
    editor = person("mia", Role.EDITOR, *Market.objects.filter(code__in=["DE", "AT", "CH"]))
    with pytest.raises(AccessDenied):
        group_rule_create(actor=editor, group=dach, action="hide", match_sources=["gossip"])


def test_a_role_granted_on_the_group_covers_its_members_now_and_later(
    admin_user: User, dach: MarketGroup, fr: Market
) -> None:
    # Given Lukas, market manager on the group DACH
    lukas = person("lukas", Role.MARKET_MANAGER)
    membership_grant(actor=admin_user, user=lukas, role=Role.MARKET_MANAGER, group=dach)
    # Then he manages DACH's rules and each member, not FR
    assert can_in_group(lukas, Action.EDIT_RULES, dach)
    assert can(lukas, Action.EDIT_RULES, Market.objects.get(code="AT"))
    assert not can(lukas, Action.EDIT_RULES, fr)
    # When FR joins DACH later, he manages FR too
    group_member_add(actor=admin_user, group=dach, market=fr)
    forget_grants(lukas)
    assert can(lukas, Action.EDIT_RULES, fr)
    assert AuditEntry.objects.filter(action="membership.grant", market_code="DACH").exists()


def test_a_group_role_cannot_be_global_or_also_in_a_market(
    admin_user: User, dach: MarketGroup, de: Market
) -> None:
    user = person("x", Role.EDITOR)
    with pytest.raises(ValidationError):
        membership_grant(actor=admin_user, user=user, role=Role.ADMIN, group=dach)
    with pytest.raises(ValidationError):
        membership_grant(actor=admin_user, user=user, role=Role.EDITOR, group=dach, market=de)


def test_group_rules_are_checked_like_market_rules(admin_user: User, dach: MarketGroup) -> None:
    with pytest.raises(ValidationError) as error:
        group_rule_create(actor=admin_user, group=dach, action="hide")
    assert "match" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        group_rule_create(
            actor=admin_user, group=dach, action="promote", match_sources=["x"], boost=2, binding=True
        )
    assert "binding" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        group_rule_create(actor=admin_user, group=dach, action="promote", match_sources=["x"])
    assert "boost" in error.value.message_dict
    group_rule_create(actor=admin_user, group=dach, action="hide", match_sources=["x"])
    with pytest.raises(ValidationError) as error:
        group_rule_create(actor=admin_user, group=dach, action="hide", match_sources=["x"])
    assert "already does exactly this" in str(error.value)


def test_an_empty_group_is_left_to_admins_and_group_roles(admin_user: User) -> None:
    empty = group_create(actor=admin_user, code="APAC", name="Asia Pacific")
    manager = person("m", Role.MARKET_MANAGER, MarketFactory(code="JP"))
    assert not can_in_group(manager, Action.EDIT_RULES, empty)
    assert can_in_group(admin_user, Action.EDIT_RULES, empty)
