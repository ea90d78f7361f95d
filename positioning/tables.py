"""The shared admin tables behind one interface: DynamoDB in production, a SQLite file embedded.

This module and the two implementations import nothing from Django, so the public API's Lambda
can use them through `positioning.reader`; boto3 is imported lazily by `dynamodb.py`.

Items are plain dicts of JSON-like values (str, int, float, bool, None, list, dict). Every item
carries `version`, and every write is conditional on the stored version being lower, so a late
or repeated write never overwrites a newer one (see docs/shared-tables.md).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

__all__ = [
    "KEY_ATTRIBUTES",
    "MAX_BATCH_GET_KEYS",
    "MAX_BATCH_WRITE_ITEMS",
    "MAX_ITEM_BYTES",
    "MAX_TRANSACT_ITEMS",
    "SCHEMA_VERSION",
    "TABLES",
    "Item",
    "ItemKey",
    "PutRequest",
    "PutResult",
    "PutStatus",
    "SharedTables",
    "SharedTablesError",
    "TablesUnavailable",
    "chunked",
    "item_key",
    "item_size",
]

# The version of the items' shape (docs/shared-tables.md); readers may refuse what they do not know.
SCHEMA_VERSION = 2

# Logical table name -> key attribute names (partition key, then sort key if any).
KEY_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "markets": ("market",),
    "positions": ("market", "content_id"),
    "content": ("content_id",),
    "images": ("image_id",),
}
TABLES = tuple(KEY_ATTRIBUTES)

# DynamoDB's hard limits. moto accepts more than AWS does, so the code enforces them itself.
MAX_ITEM_BYTES = 400 * 1024
MAX_BATCH_GET_KEYS = 100
MAX_BATCH_WRITE_ITEMS = 25
MAX_TRANSACT_ITEMS = 100

Item = dict[str, Any]
# (logical table, key values in KEY_ATTRIBUTES order)
ItemKey = tuple[str, tuple[str, ...]]


class SharedTablesError(Exception):
    """A shared-tables operation failed."""


class TablesUnavailable(SharedTablesError):
    """The tables cannot be reached at all (endpoint down, timeouts, no credentials)."""


class PutStatus(StrEnum):
    WRITTEN = "written"
    # The condition failed: the same or a newer version is already stored. Counts as done.
    SUPERSEDED = "superseded"
    # Throttling or a server error that outlived the client's own retries: try again later.
    RETRYABLE = "retryable"
    # The item itself is refused (too large, invalid): retrying the same item cannot help.
    PERMANENT = "permanent"
    # The tables could not be reached; nothing is known about this item.
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True, slots=True)
class PutRequest:
    """One conditional put: `item` (with its key attributes and `version`) into `table`."""

    table: str
    item: Item

    @property
    def key(self) -> ItemKey:
        return item_key(self.table, self.item)


@dataclass(frozen=True, slots=True)
class PutResult:
    """What happened to one PutRequest, with the requests and capacity it cost."""

    request: PutRequest
    status: PutStatus
    error: str = ""
    requests: int = 0
    consumed_wcu: float = 0.0

    @property
    def done(self) -> bool:
        return self.status in (PutStatus.WRITTEN, PutStatus.SUPERSEDED)


class SharedTables(Protocol):
    """The operations Meridian and the public API's reader need from the shared tables."""

    backend_name: str
    prefix: str

    def table_name(self, table: str) -> str:
        """Return the physical name of logical table `table` (prefix + name)."""
        ...

    def create_tables(self) -> list[str]:
        """Create the tables that are missing; return the physical names created."""
        ...

    def put_if_newer(self, requests: Sequence[PutRequest], *, allow_equal: bool = False) -> list[PutResult]:
        """Write each item unless the stored version is >= its version (> with allow_equal).

        Returns one PutResult per request, in order; never raises for a single item's failure.
        """
        ...

    def get_item(self, table: str, key: Sequence[str]) -> Item | None:
        """Return the item with key values `key`, or None."""
        ...

    def batch_get(self, keys: Sequence[ItemKey]) -> dict[ItemKey, Item]:
        """Return the stored items among `keys` (at most MAX_BATCH_GET_KEYS, no duplicates).

        Raises ValueError on too many or duplicate keys; TablesUnavailable when unreachable.
        """
        ...

    def scan(self, table: str) -> Iterator[Item]:
        """Yield every item of `table` (reconcile only: this reads the whole table)."""
        ...

    def query_partition(self, table: str, partition: str) -> Iterator[Item]:
        """Yield the items of `table` whose partition key is `partition` (positions of a market)."""
        ...

    def delete_if_version(self, table: str, key: Sequence[str], version: int) -> bool:
        """Delete the item if its stored version is still `version`; return whether it was."""
        ...


def item_key(table: str, item: Mapping[str, Any]) -> ItemKey:
    """Return the ItemKey of `item` in `table`; raises KeyError on an unknown table or missing key."""
    return (table, tuple(str(item[name]) for name in KEY_ATTRIBUTES[table]))


def chunked(values: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """Yield consecutive slices of `values` of at most `size` elements."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def check_batch_get(keys: Sequence[ItemKey]) -> None:
    """Raise ValueError unless `keys` fit one BatchGetItem: at most 100 keys, no duplicates."""
    if len(keys) > MAX_BATCH_GET_KEYS:
        raise ValueError(f"BatchGetItem takes at most {MAX_BATCH_GET_KEYS} keys, got {len(keys)}.")
    if len(set(keys)) != len(keys):
        raise ValueError("BatchGetItem refuses duplicate keys in one request.")
    for table, values in keys:
        if len(values) != len(KEY_ATTRIBUTES[table]):
            raise ValueError(f"A {table} key has {len(KEY_ATTRIBUTES[table])} part(s), got {values!r}.")


def _number_size(value: int | float) -> int:
    # DynamoDB stores numbers as up to 38 significant digits, about one byte per two digits
    # plus one; leading and trailing zeros do not count.
    digits = repr(abs(value)).lower().split("e")[0].replace(".", "").strip("0") or "0"
    return math.ceil(len(digits) / 2) + 1


def _value_size(value: Any) -> int:
    if value is None or isinstance(value, bool):
        return 1
    if isinstance(value, int | float):
        return _number_size(value)
    if isinstance(value, str):
        return len(value.encode("utf-8"))
    if isinstance(value, list | tuple):
        # A list costs 3 bytes, plus 1 byte per element on top of the element's own size.
        return 3 + sum(1 + _value_size(element) for element in value)
    if isinstance(value, dict):
        return 3 + sum(1 + len(str(k).encode("utf-8")) + _value_size(v) for k, v in value.items())
    raise TypeError(f"Cannot store {type(value).__name__} in a shared table.")


def item_size(item: Mapping[str, Any]) -> int:
    """Return the item's size as DynamoDB counts it (attribute names + values), in bytes.

    The rules are those of "Item sizes and formats" in the DynamoDB developer guide; the result
    rounds up where AWS's own formula is approximate, so an item that fits here fits there.
    """
    return sum(len(name.encode("utf-8")) + _value_size(value) for name, value in item.items())


def oversize_error(size: int) -> str:
    """Return the message for an item of `size` bytes that DynamoDB would refuse."""
    return f"Item is {size:,} bytes, over DynamoDB's 400 KB ({MAX_ITEM_BYTES:,}-byte) item limit."


def to_json(item: Mapping[str, Any]) -> str:
    """Serialise an item compactly with sorted keys (stable text for comparing and storing)."""
    return json.dumps(item, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
