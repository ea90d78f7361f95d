"""Fixtures shared by the whole suite: markets and one user per role."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from accounts.models import Membership, Role, User
from markets.models import Market
from tests.factories import MarketFactory, UserFactory

# The one Chromium fixture (and its page) for every browser test in the suite.
pytest_plugins = ["tests.browser", "tests.groups"]


@pytest.fixture
def au(db: None) -> Market:
    return MarketFactory(code="AU", name="Australia", timezone="Australia/Sydney")


@pytest.fixture
def de(db: None) -> Market:
    return MarketFactory(code="DE", name="Germany", languages=["de"], timezone="Europe/Berlin")


@pytest.fixture
def us(db: None) -> Market:
    return MarketFactory(code="US", name="United States", timezone="America/New_York")


@pytest.fixture
def optus(db: None) -> Market:
    return MarketFactory(
        code="AU-OPTUS", name="Optus", timezone="Australia/Sydney", default_visibility="opt_in"
    )


def _user(username: str, *grants: tuple[str, Market | None]) -> User:
    user = UserFactory(username=username)
    for role, market in grants:
        Membership.objects.create(user=user, role=role, market=market)
    return user


@pytest.fixture
def admin_user(db: None) -> User:
    return _user("admin", (Role.ADMIN, None))


@pytest.fixture
def editor(db: None) -> User:
    """An editor in every market."""
    return _user("editor", (Role.EDITOR, None))


@pytest.fixture
def au_editor(au: Market) -> User:
    return _user("au-editor", (Role.EDITOR, au))


@pytest.fixture
def au_manager(au: Market, optus: Market) -> User:
    return _user("au-manager", (Role.MARKET_MANAGER, au), (Role.MARKET_MANAGER, optus))


@pytest.fixture
def reviewer(db: None) -> User:
    return _user("reviewer", (Role.REVIEWER, None))


@pytest.fixture
def nobody(db: None) -> User:
    """A logged-in user with no role at all."""
    return _user("nobody")


@pytest.fixture(autouse=True)
def _empty_traffic_buffer() -> Iterator[None]:
    """Every test starts and ends with the process's partner-traffic buffer empty.

    The local key enforcement buffers one sample per request and stores them every few seconds;
    a sample left over from one test would be stored in another, whose keys are different.
    """
    from accounts.partners.traffic.recorder import get_recorder

    get_recorder().discard()
    yield
    get_recorder().discard()
