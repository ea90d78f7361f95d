"""Fixtures for the portal's pages: a small catalogue and logged-in clients per role."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache
from django.test import Client

from accounts.models import User
from content.models import ContentItem
from tests.factories import ContentItemFactory

BASE = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    # The board caches filter suggestions; tests must not see each other's.
    cache.clear()


@pytest.fixture
def items(db: None) -> list[ContentItem]:
    """Twelve items, newest first: videos tagged ocean, articles tagged hunting, one gallery."""
    made = []
    for n in range(12):
        kind, tags = ("video", ["ocean"]) if n % 3 == 0 else ("article", ["hunting"])
        if n == 11:
            kind, tags = "gallery", ["polar"]
        made.append(
            ContentItemFactory(
                upstream_id=f"ng-{n:03d}",
                title=f"{'Deep sea' if kind == 'video' else 'Field notes'} story {n}",
                content_type=kind,
                source="natgeo-tv" if kind == "video" else "natgeo-editorial",
                language="de" if n == 5 else "en",
                published_at=BASE - timedelta(hours=n),
                tag_slugs=tags,
            )
        )
    return made


def login(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client
