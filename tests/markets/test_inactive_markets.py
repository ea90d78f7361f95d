"""An inactive market refuses every write, whoever asks: one table of every service that changes
something in a market, and a check that no such service is missing from it."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from accounts.access import MarketInactive
from accounts.models import User
from content.labels.services import moderation_policy_add, moderation_policy_delete, moderation_policy_set
from content.models import ContentItem, Position
from content.services import PositionChange, position_reset, position_set, positions_bulk_set
from content.services.pins import pins_reorder
from markets.models import Market, Rule
from markets.services import market_deactivate, market_update, rule_create, rule_delete, rule_update
from portal.change_requests.services import changes_defer, draft_for, policy_set, request_create
from tests.api.conftest import db_state
from tests.factories import ContentItemFactory, PositionFactory, RuleFactory, TagFactory

pytestmark = pytest.mark.django_db


@dataclass
class World:
    market: Market
    item: ContentItem
    rule: Rule
    pin: Position
    policy: Any


Write = Callable[[User | None, World], Any]

# Every service that writes in one market, called as an editor would call it on an active market.
WRITES: dict[str, Write] = {
    "market_update": lambda actor, w: market_update(
        actor=actor, market=w.market, name="Australia (inactive)"
    ),
    "rule_create": lambda actor, w: rule_create(
        actor=actor, market=w.market, action="hide", match_content_types=["video"]
    ),
    "rule_update": lambda actor, w: rule_update(actor=actor, rule=w.rule, note="still here?"),
    "rule_delete": lambda actor, w: rule_delete(actor=actor, rule=w.rule),
    "position_set": lambda actor, w: position_set(
        actor=actor, market=w.market, item=w.item, change=PositionChange(state="hidden")
    ),
    "position_reset": lambda actor, w: position_reset(actor=actor, market=w.market, item=w.pin.item),
    "pins_reorder": lambda actor, w: pins_reorder(
        actor=actor, market=w.market, position=w.pin, direction="down"
    ),
    "moderation_policy_set": lambda actor, w: moderation_policy_set(
        actor=actor, market=w.market, category="Violence", block_at=50
    ),
    "moderation_policy_add": lambda actor, w: moderation_policy_add(
        actor=actor, market=w.market, category="Drugs & Tobacco", block_at=60
    ),
    "moderation_policy_delete": lambda actor, w: moderation_policy_delete(actor=actor, policy=w.policy),
    "policy_set": lambda actor, w: policy_set(actor=actor, market=w.market, approvals_required=1, rules=True),
    "request_create": lambda actor, w: request_create(actor=actor, market=w.market, title="t", operations=[]),
    "draft_for": lambda actor, w: draft_for(actor=actor, market=w.market),
    "changes_defer": lambda actor, w: changes_defer(actor=actor, market=w.market, operations=[]),
}
# Services that take a market but are not writes *in* it, and why.
NOT_MARKET_WRITES = {
    "market_activate": "the way out of inactivity",
    "market_deactivate": "deactivating an inactive market changes nothing",
    "market_item_size_error": "a check, writes nothing",
    "membership_grant": "roles may be prepared before a market is reactivated",
    "sso_mapping_create": "maps a provider group to a role, writes nothing in the market",
    "webhook_endpoint_create": "subscribes to notifications about markets",
    "positions_bulk_set": "refuses inactive markets one by one (test below)",
    "approvals_needed": "a check, writes nothing",
    "policy_for": "a read",
    "rule_field_errors": "a check, writes nothing",
    "group_rule_update": "a group's rule: one row of the group, not of any one market",
    "group_rule_delete": "a group's rule: one row of the group, not of any one market",
    "group_member_add": "membership is the group's: a market may join while inactive, nothing in it changes",
    "group_member_remove": "membership is the group's: a market may leave while inactive, as it may join",
}


@pytest.fixture
def world(au: Market, admin_user: User) -> World:
    """AU with a rule, a pinned item, an item without position and a moderation policy; then
    deactivated by an admin."""
    TagFactory(slug="hunting")
    rule = RuleFactory(market=au, action="hide", match_tags=["hunting"])
    pin = PositionFactory(market=au, state="pinned", slot=1, version=1)
    item = ContentItemFactory(upstream_id="free-item")
    policy = moderation_policy_set(actor=None, market=au, category="Violence", block_at=60)
    market_deactivate(actor=admin_user, market=au)
    au.refresh_from_db()
    rule.refresh_from_db()
    pin.refresh_from_db()
    policy.refresh_from_db()
    return World(market=au, item=item, rule=rule, pin=pin, policy=policy)


@pytest.mark.parametrize("actor_role", ["admin_user", "au_manager", "system"])
@pytest.mark.parametrize("write", list(WRITES), ids=list(WRITES))
def test_every_write_service_refuses_an_inactive_market(
    request: pytest.FixtureRequest, world: World, write: str, actor_role: str
) -> None:
    # Given AU is inactive, and an admin, its manager or the system (a command) acting
    actor: User | None = None if actor_role == "system" else request.getfixturevalue(actor_role)
    before = db_state()

    # When they make the change, then it is refused, saying why, and nothing is written
    with pytest.raises(MarketInactive) as refused:
        WRITES[write](actor, world)
    assert "AU is inactive" in str(refused.value) and "admin reactivates" in str(refused.value)
    assert db_state() == before


def test_bulk_positions_refuse_an_inactive_market_and_write_the_others(
    world: World, editor: User, de: Market
) -> None:
    # Given an editor of every market, AU inactive and DE active
    before = Position.objects.count()

    # When they hide one item in AU and DE at once
    result = positions_bulk_set(
        actor=editor,
        markets=[world.market, de],
        item_ids=[world.item.pk],
        change=PositionChange(state="hidden"),
    )

    # Then DE is written and AU is refused, saying why
    assert result.changed == 1
    assert [(r.market_code, r.reason) for r in result.refused] == [
        ("AU", "AU is inactive: nothing in it can be changed until an admin reactivates it.")
    ]
    assert Position.objects.count() == before + 1
    assert not Position.objects.filter(market=world.market, item=world.item).exists()


def test_every_write_service_that_names_a_market_is_in_the_table() -> None:
    # Given every public service function of the project that takes a market, rule, position,
    # policy or markets argument
    found: set[str] = set()
    for root in ("accounts", "content", "markets", "portal"):
        package = importlib.import_module(root)
        for module_info in pkgutil.walk_packages(package.__path__, f"{root}."):
            if "services" not in module_info.name.split("."):
                continue
            module = importlib.import_module(module_info.name)
            for name, function in inspect.getmembers(module, inspect.isfunction):
                if function.__module__ != module.__name__ or name.startswith("_"):
                    continue
                names = set(inspect.signature(function).parameters)
                if names & {"market", "markets", "rule", "position", "policy"}:
                    found.add(name)

    # Then each is either tested above against an inactive market or said not to write in one
    assert found == set(WRITES) | set(NOT_MARKET_WRITES)
