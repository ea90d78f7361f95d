"""A content item whose image is blocked in a market says so next to the resolver's reason."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import User
from content.labels.services import image_labels_store, moderation_policy_set
from content.selectors import item_matrix
from markets.models import Market
from tests.factories import ContentItemFactory
from tests.labels.conftest import result

pytestmark = pytest.mark.django_db

VIOLENCE = [("Violence", "", "Violence", 72.0, 1)]


@pytest.fixture
def blocked_item(new_image: Any, de: Market, us: Market) -> Any:
    # given an article whose image scores Violence 72, and DE blocks Violence at 60
    item = ContentItemFactory(upstream_id="doc-violent", title="Frontline report")
    image = new_image(name="frontline.png")
    image.item = item
    image.save(update_fields=["item"])
    moderation_policy_set(actor=None, market=de, category="Violence", block_at=60)
    image_labels_store(image_id=image.pk, result=result(moderation=VIOLENCE))
    return item


def test_the_matrix_names_the_blocked_image_in_de_only(blocked_item: Any, de: Market, us: Market) -> None:
    cells = {c.market.code: c for c in item_matrix(markets=[de, us], item=blocked_item, at=timezone.now())}
    # then the item stays visible in DE (only the image is blocked) and the block is explained
    assert cells["DE"].decision.visible
    assert cells["DE"].image_blocks == ('Image "frontline.png" blocked in DE: "Violence" 72 ≥ 60',)
    assert cells["US"].image_blocks == ()


def test_the_item_page_and_de_preview_show_the_block(
    client: Client, editor: User, blocked_item: Any, de: Market
) -> None:
    client.force_login(editor)
    page = client.get(f"/content/items/{blocked_item.upstream_id}/").content.decode()
    assert "blocked in DE: &quot;Violence&quot; 72 ≥ 60" in page
    preview = client.get(f"/markets/{de.code}/preview/").content.decode()
    assert "Frontline report" in preview
    assert "blocked in DE: &quot;Violence&quot; 72 ≥ 60" in preview


BLOCK = 'Image "frontline.png" blocked in DE: "Violence" 72 ≥ 60'


def test_rest_resolve_names_the_blocked_image(
    client: Client, editor: User, blocked_item: Any, de: Market
) -> None:
    # When a script resolves the item in DE and in US
    client.force_login(editor)
    in_de = client.get("/api/v1/markets/DE/resolve?content_id=doc-violent").json()
    in_us = client.get("/api/v1/markets/US/resolve?content_id=doc-violent").json()

    # Then DE's explanation mentions the blocked image, as the item page does; US's does not
    assert in_de["visible"] is True and in_de["decided_by"] == "default"
    assert in_de["image_blocks"] == [BLOCK]
    assert in_de["reason"] == f"Visible by default; {BLOCK}"
    assert in_us["image_blocks"] == [] and in_us["reason"] == "Visible by default"


def test_the_reference_feed_names_the_blocked_image(
    blocked_item: Any, de: Market, settings: Any, tmp_path: Any
) -> None:
    # Given DE published to fresh local shared tables
    import uuid

    from portal.shared_tables import config
    from portal.shared_tables.models import OutboxKind
    from portal.shared_tables.outbox import outbox_enqueue_many
    from portal.shared_tables.publisher import drain
    from portal.shared_tables.selectors import reference_feed

    settings.SHARED_TABLES_BACKEND = "local"
    settings.SHARED_TABLES_LOCAL_PATH = tmp_path / "shared_tables.sqlite3"
    settings.SHARED_TABLES_PREFIX = f"t{uuid.uuid4().hex[:8]}-"
    settings.SHARED_TABLES_PUBLISH_ON_COMMIT = False
    config.forget()
    config.shared_tables()
    try:
        outbox_enqueue_many(kind=OutboxKind.MARKET, entries=[(de.code, de.version)])
        drain()
        config.shared_tables_reader().clear_cache()

        # When DE's feed is read
        feed = reference_feed(market_code="DE", at=timezone.now(), limit=20)

        # Then the item is in it, visible, and its reason mentions the blocked image
        assert feed is not None
        entry = next(e for e in feed.entries if e.content_id == "doc-violent")
        assert entry.state == "visible"
        assert entry.image_blocks == [BLOCK]
        assert entry.reason == f"Visible by default; {BLOCK}"
    finally:
        config.forget()
