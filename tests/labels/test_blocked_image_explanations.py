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
