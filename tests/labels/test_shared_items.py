"""The `images` builder is registered with the shared-tables publisher and matches its schema."""

from __future__ import annotations

from typing import Any

import jsonschema

from content.labels.services import image_labels_store, moderation_policy_set
from portal.shared_tables.items import builder_for
from portal.shared_tables.models import OutboxKind
from positioning.schemas import load_schema
from tests.labels.conftest import result


def test_the_images_builder_is_registered_and_builds_valid_items(new_image: Any, de: Any) -> None:
    # given a labelled image blocked in DE
    moderation_policy_set(actor=None, market=de, category="Violence", block_at=60)
    image = new_image()
    image_labels_store(
        image_id=image.pk,
        result=result([("Glacier", 97.0)], moderation=[("Violence", "", "Violence", 72.0, 1)]),
    )
    # when the publisher asks the registered builder for it (and an unknown key)
    builder = builder_for(OutboxKind.IMAGE)
    assert builder is not None and builder.table == "images" and not builder.market_scoped
    items = builder.build([str(image.pk), "999999", "junk"])
    # then it gets one item that validates against the table's JSON Schema
    assert list(items) == [str(image.pk)]
    item = items[str(image.pk)]
    jsonschema.validate(item, load_schema("images"))
    assert builder.key_of(item) == str(image.pk)
    assert item["blocked_markets"][0]["market"] == "DE"
    assert list(builder.db_keys(None)) == [str(image.pk)]
    assert list(builder.db_keys("DE")) == []
