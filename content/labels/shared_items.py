"""Registers the `images` shared-table builder with the shared-tables publisher.

Called from the content app's `ready()`. The items themselves are built by
`content.labels.selectors.image_shared_items` from committed state.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from portal.bounds import whole_number


def build_images(keys: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Return the `images` items of the outbox keys (image ids) that still exist."""
    from content.labels.selectors import image_shared_items

    return image_shared_items(n for k in keys if (n := whole_number(str(k))) is not None)


def _image_keys(market: str | None) -> Iterator[str]:
    # Images are not market-scoped: a market-scoped reconcile has nothing to compare here.
    if market is not None:
        return
    from content.labels.models import ImageAsset

    for pk in ImageAsset.objects.order_by("pk").values_list("pk", flat=True).iterator(chunk_size=2000):
        yield str(pk)


def _key_of(item: Mapping[str, Any]) -> str:
    return str(item["image_id"])


def register() -> bool:
    """Register the `images` builder if the shared-tables package is present; return whether it was."""
    try:
        from portal.shared_tables.items import ItemBuilder, register_builder
    except ImportError:
        return False
    from portal.shared_tables.models import OutboxKind

    register_builder(
        ItemBuilder(
            kind=OutboxKind.IMAGE,
            table="images",
            build=build_images,
            db_keys=_image_keys,
            key_of=_key_of,
            market_scoped=False,
        )
    )
    return True
