"""Rights and binding rules reach the public side: published by the outbox, applied by the reader
exactly as the portal's resolver applies them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from content.models import ContentItem
from content.services import ContentRights, ContentRow, PositionChange, content_upsert_bulk, position_set
from markets.models import Market
from markets.services import rule_create
from portal.shared_tables import config
from portal.shared_tables.publisher import drain
from positioning.tables import SharedTables
from tests.factories import TagFactory
from tests.partner_keys import generous_partner_key

pytestmark = pytest.mark.django_db
AT = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


@pytest.fixture
def client(db: None, settings: Any, tmp_path: Path) -> Iterator[Client]:
    with generous_partner_key(settings, tmp_path, "Rights feed tests") as secret:
        yield Client(HTTP_X_API_KEY=secret)


def _row(
    upstream_id: str, hours: int, tags: tuple[str, ...] = (), rights: ContentRights | None = None
) -> ContentRow:
    return ContentRow(
        upstream_id=upstream_id,
        content_type="article",
        title=upstream_id,
        source="natgeo-editorial",
        language="en",
        published_at=AT - timedelta(hours=hours),
        tags=tags,
        rights=rights,
    )


def test_the_feed_applies_published_rights_and_binding_rules_before_positions(
    tables: SharedTables, au: Market, client: Client
) -> None:
    TagFactory(slug="hunting")
    content_upsert_bulk(
        actor=None,
        rows=[
            _row("plain", 1),
            _row("denied", 2, rights=ContentRights(deny=("AU",))),
            _row("embargoed", 3, rights=ContentRights(starts_at=AT + timedelta(days=1))),
            _row("hunt", 4, tags=("hunting",)),
        ],
    )
    rule_create(actor=None, market=au, action="hide", match_tags=["hunting"], binding=True)
    for upstream_id in ("denied", "embargoed", "hunt"):
        position_set(
            actor=None,
            market=au,
            item=ContentItem.objects.get(upstream_id=upstream_id),
            change=PositionChange(state="shown", reason="Editor's pick"),
        )
    drain()
    config.shared_tables_reader().clear_cache()

    # The published items carry the rights and the binding flag
    assert tables.get_item("content", ("denied",))["rights"]["deny"] == ["AU"]
    assert tables.get_item("content", ("plain",))["rights"] is None
    assert tables.get_item("markets", ("AU",))["rules"][0]["binding"] is True

    # And the feed (the reader over the shared tables) shows only what is licensed and not bound
    body = client.get("/feed/v1/AU", {"at": "2026-03-02T06:00:00Z", "limit": "10"}).json()
    assert [i["content_id"] for i in body["items"]] == ["plain"]
    later = client.get("/feed/v1/AU", {"at": "2026-03-03T07:00:00Z", "limit": "10"}).json()
    assert [i["content_id"] for i in later["items"]] == ["plain", "embargoed"]
