"""Shared setup for change request tests: AU-OPTUS whose positions and rules need one approval."""

from __future__ import annotations

import pytest

from accounts.models import Membership, Role, User
from markets.models import Market
from portal.change_requests.services import policy_set
from tests.factories import ContentItemFactory, UserFactory


@pytest.fixture
def ana(optus: Market) -> User:
    user = UserFactory(username="ana", first_name="Ana")
    Membership.objects.create(user=user, role=Role.MARKET_MANAGER, market=optus)
    return user


@pytest.fixture
def sam(db: None) -> User:
    user = UserFactory(username="sam", first_name="Sam")
    Membership.objects.create(user=user, role=Role.ADMIN, market=None)
    return user


@pytest.fixture
def guarded(optus: Market, sam: User) -> Market:
    """AU-OPTUS: rules and positions need one approval."""
    policy_set(actor=sam, market=optus, approvals_required=1, rules=True, positions=True)
    return optus


@pytest.fixture
def items(db: None) -> list:
    return ContentItemFactory.create_batch(6)
