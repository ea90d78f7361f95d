"""Fixtures for the REST API suites: clients logged in per role, content, snapshots of the DB."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from content.models import ContentItem, ItemTag, Position, Tag, TagEdit
from markets.models import Market, Rule
from portal.audit.models import AuditEntry
from portal.shared_tables.models import OutboxEntry
from tests.factories import ContentItemFactory, TagFactory


@pytest.fixture
def client_for(request: pytest.FixtureRequest) -> Callable[[str | None], APIClient]:
    """Return a function giving an API client logged in (session auth) as the named role fixture."""

    def make(role: str | None) -> APIClient:
        client = APIClient()
        if role is not None:
            user: User = request.getfixturevalue(role)
            client.force_login(user)
        return client

    return make


@pytest.fixture
def markets(au: Market, de: Market, us: Market, optus: Market) -> dict[str, Market]:
    return {"AU": au, "DE": de, "US": us, "AU-OPTUS": optus}


@pytest.fixture
def tags(db: None) -> dict[str, Tag]:
    return {slug: TagFactory(slug=slug) for slug in ("ocean", "hunting", "wildlife")}


@pytest.fixture
def items(tags: dict[str, Tag]) -> list[ContentItem]:
    """Three items: an ocean video, a hunting article and an untagged clip."""
    return [
        ContentItemFactory(upstream_id="vid-ocean", content_type="video", tag_slugs=["ocean"]),
        ContentItemFactory(upstream_id="art-hunt", content_type="article", tag_slugs=["hunting"]),
        ContentItemFactory(upstream_id="clip-plain", content_type="clip", source="partner-feed"),
    ]


def db_state() -> dict[str, Any]:
    """A fingerprint of everything the API can write, to assert that nothing was written."""
    return {
        "markets": list(Market.objects.order_by("pk").values()),
        "rules": list(Rule.objects.order_by("pk").values()),
        "items": list(ContentItem.objects.order_by("pk").values()),
        "item_tags": list(ItemTag.objects.order_by("pk").values_list("item_id", "tag_id")),
        "tag_edits": list(TagEdit.objects.order_by("pk").values_list("item_id", "tag_id", "op")),
        "tags": list(Tag.objects.order_by("pk").values_list("slug", flat=True)),
        "positions": list(Position.objects.order_by("pk").values()),
        "audit": AuditEntry.objects.count(),
        "outbox": OutboxEntry.objects.count(),
    }
