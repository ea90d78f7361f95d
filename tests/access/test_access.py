"""The access service: who may do what, in which market."""

from __future__ import annotations

import pytest

from accounts.access import AccessDenied, Action, can, forget_grants, has_role, markets_for, require
from accounts.models import Membership, Role, User
from markets.models import Market
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def codes(qs) -> set[str]:
    return set(qs.values_list("code", flat=True))


def test_admin_may_do_everything_everywhere(admin_user: User, au: Market, de: Market) -> None:
    for action in Action:
        assert can(admin_user, action, de)
    assert codes(markets_for(admin_user, Action.EDIT_RULES)) == {"AU", "DE"}


def test_superuser_counts_as_admin(db: None, de: Market) -> None:
    boss = UserFactory(username="boss", is_superuser=True)
    assert can(boss, Action.MANAGE_PARTNERS)
    assert can(boss, Action.EDIT_RULES, de)
    assert has_role(boss, Role.ADMIN)


def test_editor_of_all_markets_edits_positions_and_tags_but_not_rules(
    editor: User, au: Market, de: Market
) -> None:
    assert can(editor, Action.EDIT_POSITIONS, de)
    assert can(editor, Action.EDIT_TAGS)
    assert not can(editor, Action.EDIT_RULES, de)
    assert not can(editor, Action.EDIT_MARKET_SETTINGS, au)
    assert not can(editor, Action.MANAGE_PARTNERS)
    assert not can(editor, Action.REVIEW_LABELS)
    assert codes(markets_for(editor, Action.EDIT_POSITIONS)) == {"AU", "DE"}


def test_editor_of_one_market_is_confined_to_it(au_editor: User, au: Market, de: Market) -> None:
    assert can(au_editor, Action.EDIT_POSITIONS, au)
    assert not can(au_editor, Action.EDIT_POSITIONS, de)
    assert not can(au_editor, Action.VIEW_MARKET, de)
    assert codes(markets_for(au_editor)) == {"AU"}
    # tags are not market-scoped: an editor anywhere may tag
    assert can(au_editor, Action.EDIT_TAGS)


def test_market_manager_runs_their_markets_only(
    au_manager: User, au: Market, optus: Market, de: Market
) -> None:
    for action in (Action.EDIT_RULES, Action.EDIT_MARKET_SETTINGS, Action.EDIT_POSITIONS):
        assert can(au_manager, action, au)
        assert can(au_manager, action, optus)
        assert not can(au_manager, action, de)
    assert codes(markets_for(au_manager, Action.EDIT_RULES)) == {"AU", "AU-OPTUS"}
    assert not can(au_manager, Action.MANAGE_MARKETS)
    assert not can(au_manager, Action.EDIT_TAGS)


def test_reviewer_reviews_labels_and_sees_no_market(reviewer: User, au: Market) -> None:
    assert can(reviewer, Action.REVIEW_LABELS)
    assert not can(reviewer, Action.VIEW_MARKET, au)
    assert not can(reviewer, Action.VIEW_CONTENT)
    assert codes(markets_for(reviewer)) == set()


def test_user_without_role_may_do_nothing(nobody: User, au: Market) -> None:
    assert not any(can(nobody, action, au) for action in Action)
    assert not any(can(nobody, action) for action in Action)


def test_inactive_user_loses_every_grant(editor: User, au: Market) -> None:
    editor.is_active = False
    forget_grants(editor)
    assert not can(editor, Action.EDIT_POSITIONS, au)


def test_require_raises_a_clear_denial(au_manager: User, de: Market) -> None:
    with pytest.raises(AccessDenied) as denied:
        require(au_manager, Action.EDIT_RULES, de)
    assert "edit rules in market DE" in str(denied.value)


def test_grants_are_loaded_once_per_user(
    au_manager: User, au: Market, de: Market, django_assert_num_queries
) -> None:
    forget_grants(au_manager)
    with django_assert_num_queries(1):
        for _ in range(50):
            can(au_manager, Action.EDIT_RULES, au)
            can(au_manager, Action.EDIT_RULES, de)


def test_a_user_may_hold_several_roles(au: Market, de: Market) -> None:
    user = UserFactory(username="multi")
    Membership.objects.create(user=user, role=Role.EDITOR, market=de)
    Membership.objects.create(user=user, role=Role.MARKET_MANAGER, market=au)
    Membership.objects.create(user=user, role=Role.REVIEWER)
    assert can(user, Action.EDIT_POSITIONS, de) and not can(user, Action.EDIT_RULES, de)
    assert can(user, Action.EDIT_RULES, au)
    assert can(user, Action.REVIEW_LABELS)
