"""Fixtures for market groups (a pytest plugin): DE, AT, CH and FR, the group DACH (DE, AT, CH),
and `person` to make a user with a role in markets or a group."""

from __future__ import annotations

import pytest

from accounts.models import Membership, Role, User
from markets.groups.services import group_create
from markets.models import Market, MarketGroup
from tests.factories import MarketFactory, UserFactory


@pytest.fixture
def dach_markets(db: None) -> dict[str, Market]:
    return {code: MarketFactory(code=code, languages=["de"]) for code in ("DE", "AT", "CH")}


@pytest.fixture
def fr(db: None) -> Market:
    return MarketFactory(code="FR", languages=["fr"])


@pytest.fixture
def dach(dach_markets: dict[str, Market]) -> MarketGroup:
    return group_create(
        actor=None,
        code="DACH",
        name="Germany, Austria, Switzerland",
        priority=10,
        members=list(dach_markets.values()),
    )


def person(username: str, role: Role, *markets: Market, group: MarketGroup | None = None) -> User:
    user = UserFactory(username=username)
    for market in markets:
        Membership.objects.create(user=user, role=role, market=market)
    if group is not None:
        Membership.objects.create(user=user, role=role, group=group)
    return user
