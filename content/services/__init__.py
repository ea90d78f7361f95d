"""Writes for content: ingestion upserts, editors' tags and per-market positions.

Each service checks access first, then writes the change, its audit entries and outbox rows in
one transaction. Position writers lock the market rows they touch, so versions of one market's
positions grow without gaps or races (SQLite serialises writers anyway).
"""

from content.services.base import (
    BATCH_SIZE,
    EARLIEST_PUBLISHED,
    MAX_UPSERT_ROWS,
    POSITION_FIELDS,
)
from content.services.group_positions import (
    GROUP_POSITION_FIELDS,
    GroupPositionRestore,
    group_position_set,
    group_positions_bulk_set,
    group_positions_restore,
)
from content.services.ingestion import (
    NO_RIGHTS,
    BulkValidationError,
    ContentRights,
    ContentRow,
    UpsertResult,
    content_upsert_bulk,
)
from content.services.pins import (
    pins_reorder,
)
from content.services.positions import (
    BOOST_RANGE,
    BulkResult,
    PositionChange,
    Refusal,
    position_reset,
    position_set,
    positions_bulk_set,
)
from content.services.restore import (
    PositionRestore,
    RestoreRefusal,
    RestoreResult,
    positions_restore,
)
from content.services.tags import (
    item_tags_update,
    tag_create,
)

__all__ = [
    "BATCH_SIZE",
    "BOOST_RANGE",
    "BulkResult",
    "BulkValidationError",
    "ContentRights",
    "ContentRow",
    "EARLIEST_PUBLISHED",
    "GROUP_POSITION_FIELDS",
    "GroupPositionRestore",
    "MAX_UPSERT_ROWS",
    "NO_RIGHTS",
    "POSITION_FIELDS",
    "PositionChange",
    "PositionRestore",
    "Refusal",
    "RestoreRefusal",
    "RestoreResult",
    "UpsertResult",
    "content_upsert_bulk",
    "group_position_set",
    "group_positions_bulk_set",
    "group_positions_restore",
    "item_tags_update",
    "pins_reorder",
    "position_reset",
    "position_set",
    "positions_bulk_set",
    "positions_restore",
    "tag_create",
]
