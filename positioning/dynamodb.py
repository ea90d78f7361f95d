"""The shared tables on DynamoDB (production), through one thread-safe boto3 client.

boto3 is imported on first use, never at import time (a cold start does not pay ≈135 ms for a
request that never publishes). The endpoint comes from boto3's own configuration, so
`AWS_ENDPOINT_URL_DYNAMODB` points it at moto or DynamoDB Local. Throttling and 5xx answers are
retried by botocore's "standard" mode (exponential backoff with jitter, `max_attempts` in all);
what still fails is reported per item and retried later by the publisher's outbox.

Writes are single conditional PutItems issued in parallel, not TransactWriteItems (twice the
write capacity, and pathologically slow on the emulator) nor BatchWriteItem (no conditions).
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

from positioning.tables import (
    KEY_ATTRIBUTES,
    MAX_ITEM_BYTES,
    Item,
    ItemKey,
    PutRequest,
    PutResult,
    PutStatus,
    SharedTablesError,
    TablesUnavailable,
    check_batch_get,
    item_size,
    oversize_error,
)

# Error codes botocore has already retried with backoff; if they still come back, the outbox
# retries later.
_RETRYABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "InternalFailure",
        "ServiceUnavailable",
        "LimitExceededException",
        "TransactionConflictException",
        # The table is missing: an operator runs `manage.py shared_tables create`, then retries.
        "ResourceNotFoundException",
    }
)
# Credentials or permissions: every item would fail the same way, so it is an outage, not an
# item's fault.
_UNAVAILABLE_CODES = frozenset(
    {
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "ExpiredTokenException",
        "MissingAuthenticationTokenException",
    }
)
_BATCH_GET_ATTEMPTS = 6
_BATCH_GET_BASE_SECONDS = 0.05
_BATCH_GET_CAP_SECONDS = 1.0


def unprocessed_backoff(attempt: int) -> float:
    """Return the seconds to wait before asking again for keys left unprocessed `attempt` times.

    Exponential backoff with full jitter, as AWS advises for UnprocessedKeys/UnprocessedItems.
    This library may not import the portal (another team's Lambda uses it without Django), so
    it keeps this small copy of portal/backoff.py's "full" jitter.
    """
    return random.uniform(0, min(_BATCH_GET_CAP_SECONDS, _BATCH_GET_BASE_SECONDS * 2**attempt))


# --- attribute values ----------------------------------------------------------------------


def to_attribute(value: Any) -> dict[str, Any]:
    """Return DynamoDB's AttributeValue for a JSON-like value; TypeError on anything else."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TypeError("DynamoDB cannot store NaN or infinity.")
        return {"N": str(Decimal(repr(value)))}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, list | tuple):
        return {"L": [to_attribute(v) for v in value]}
    if isinstance(value, dict):
        return {"M": {str(k): to_attribute(v) for k, v in value.items()}}
    raise TypeError(f"Cannot store {type(value).__name__} in a shared table.")


def from_attribute(attribute: dict[str, Any]) -> Any:
    """Return the JSON-like value of a DynamoDB AttributeValue."""
    (kind, value), *_ = attribute.items()
    if kind == "NULL":
        return None
    if kind in ("S", "BOOL"):
        return value
    if kind == "N":
        return float(value) if any(c in value for c in ".eE") else int(value)
    if kind == "L":
        return [from_attribute(v) for v in value]
    if kind == "M":
        return {k: from_attribute(v) for k, v in value.items()}
    if kind in ("SS", "NS"):
        return sorted(from_attribute({kind[0]: v}) for v in value)
    raise TypeError(f"Unsupported DynamoDB attribute type {kind!r}.")


def to_item(item: Item) -> dict[str, Any]:
    return {name: to_attribute(value) for name, value in item.items()}


def from_item(attributes: dict[str, Any]) -> Item:
    return {name: from_attribute(value) for name, value in attributes.items()}


def _write_units(item: Item) -> float:
    return float(max(1, math.ceil(item_size(item) / 1024)))


# Reads whose answers are parsed with json.loads instead of botocore's shape walker.
FAST_PARSED_READS = ("BatchGetItem", "GetItem", "Query", "Scan")


def parse_read_as_json(
    response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any
) -> None:
    """Parse a successful read's JSON body with json.loads, before botocore's parser runs.

    botocore walks the answer against the service model, value by value: ≈0.15 ms of CPU per
    item, most of what a feed of 1,000 candidates costs the reader besides the wait. For these
    reads the JSON answer already is the parsed answer (AttributeValue maps stay maps, numbers
    stay strings); only binary values would differ, and the shared tables store none. The body
    is handed to botocore as `{}` so that it parses nothing; its result is then updated with
    ours. Errors (status ≠ 200) are left to botocore, and the CRC32 check reads the raw HTTP
    response, which this does not touch.
    """
    if response_dict.get("status_code") != 200:
        return
    body = response_dict.get("body")
    if not body:
        return
    customized_response_dict.update(json.loads(body))
    response_dict["body"] = b"{}"


class DynamoTables:
    """Shared tables on DynamoDB, named `<prefix><table>`, written by `threads` parallel puts."""

    backend_name = "dynamodb"

    def __init__(
        self,
        *,
        prefix: str,
        threads: int = 8,
        max_attempts: int = 4,
        connect_timeout: float = 2.0,
        read_timeout: float = 5.0,
        client: Any = None,
    ) -> None:
        self.prefix = prefix
        self.threads = max(1, threads)
        self.max_attempts = max_attempts
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._client = client
        self._client_lock = threading.Lock()

    # --- plumbing --------------------------------------------------------------------------

    @property
    def client(self) -> Any:
        """The boto3 DynamoDB client, created on first use and shared by every thread."""
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    self._client = self._new_client()
        return self._client

    def _new_client(self) -> Any:
        import boto3
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError

        config = Config(
            # total_max_attempts counts the first call too (botocore's max_attempts would not).
            retries={"mode": "standard", "total_max_attempts": self.max_attempts},
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            # One client serves overlapping drains (after-commit tasks, the sweep) and the reader's
            # parallel reads: room for a few of them at once, so connections are reused, not dropped.
            max_pool_connections=max(32, 4 * self.threads),
            # Every request is built by this class from checked items; botocore's walk over
            # each parameter again costs CPU on every read and write and finds nothing.
            parameter_validation=False,
        )
        try:
            # A session of our own: boto3's default session is not thread-safe to create from.
            client = boto3.session.Session().client("dynamodb", config=config)
        except BotoCoreError as exc:  # no region, bad configuration
            raise TablesUnavailable(f"Cannot create a DynamoDB client: {exc}") from exc
        for operation in FAST_PARSED_READS:
            client.meta.events.register(f"before-parse.dynamodb.{operation}", parse_read_as_json)
        return client

    def table_name(self, table: str) -> str:
        if table not in KEY_ATTRIBUTES:
            raise KeyError(f"Unknown shared table {table!r}.")
        return f"{self.prefix}{table}"

    def _key(self, table: str, values: Sequence[str]) -> dict[str, Any]:
        return {name: {"S": str(value)} for name, value in zip(KEY_ATTRIBUTES[table], values, strict=True)}

    @staticmethod
    def _is_unavailable(exc: BaseException) -> bool:
        from botocore.exceptions import (
            ConnectionError,
            HTTPClientError,
            NoCredentialsError,
            NoRegionError,
            PartialCredentialsError,
        )

        if isinstance(exc, TablesUnavailable):
            return True
        return isinstance(
            exc,
            ConnectionError | HTTPClientError | NoCredentialsError | PartialCredentialsError | NoRegionError,
        )

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        """Call a client operation, turning unreachability into TablesUnavailable."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response: dict[str, Any] = getattr(self.client, operation)(**kwargs)
            return response
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in _UNAVAILABLE_CODES:
                raise TablesUnavailable(f"DynamoDB {operation}: {code}: {exc}") from exc
            raise SharedTablesError(f"DynamoDB {operation}: {code}: {exc}") from exc
        except BotoCoreError as exc:
            if self._is_unavailable(exc):
                raise TablesUnavailable(f"DynamoDB {operation}: {exc}") from exc
            raise SharedTablesError(f"DynamoDB {operation}: {exc}") from exc

    # --- tables ----------------------------------------------------------------------------

    def create_tables(self) -> list[str]:
        from botocore.exceptions import ClientError

        created = []
        for table, keys in KEY_ATTRIBUTES.items():
            name = self.table_name(table)
            try:
                self.client.describe_table(TableName=name)
                continue
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                    raise SharedTablesError(f"DynamoDB DescribeTable {name}: {exc}") from exc
            except Exception as exc:
                if self._is_unavailable(exc):
                    raise TablesUnavailable(f"DynamoDB DescribeTable {name}: {exc}") from exc
                raise
            self._call(
                "create_table",
                TableName=name,
                BillingMode="PAY_PER_REQUEST",
                KeySchema=[
                    {"AttributeName": attr, "KeyType": "HASH" if i == 0 else "RANGE"}
                    for i, attr in enumerate(keys)
                ],
                AttributeDefinitions=[{"AttributeName": attr, "AttributeType": "S"} for attr in keys],
            )
            created.append(name)
        for name in created:
            self.client.get_waiter("table_exists").wait(
                TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
            )
        return created

    # --- writes ----------------------------------------------------------------------------

    def _put_one(self, request: PutRequest, allow_equal: bool, outage: threading.Event) -> PutResult:
        from botocore.exceptions import ClientError

        if outage.is_set():
            return PutResult(request, PutStatus.UNAVAILABLE, error="Skipped: the tables were unreachable.")
        version = int(request.item["version"])
        try:
            response = self.client.put_item(
                TableName=self.table_name(request.table),
                Item=to_item(request.item),
                ConditionExpression=f"attribute_not_exists(#v) OR #v {'<=' if allow_equal else '<'} :v",
                ExpressionAttributeNames={"#v": "version"},
                ExpressionAttributeValues={":v": {"N": str(version)}},
                ReturnConsumedCapacity="TOTAL",
            )
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = error.get("Code", "")
            attempts = 1 + int(exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0))
            message = f"{code}: {error.get('Message', exc)}"
            if code == "ConditionalCheckFailedException":
                # AWS charges the write even when the condition fails.
                return PutResult(
                    request, PutStatus.SUPERSEDED, requests=attempts, consumed_wcu=_write_units(request.item)
                )
            if code in _UNAVAILABLE_CODES:
                outage.set()
                return PutResult(request, PutStatus.UNAVAILABLE, error=message, requests=attempts)
            status_code = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400))
            if code in _RETRYABLE_CODES or status_code >= 500:
                return PutResult(request, PutStatus.RETRYABLE, error=message, requests=attempts)
            return PutResult(request, PutStatus.PERMANENT, error=message, requests=attempts)
        except Exception as exc:
            if self._is_unavailable(exc):
                # Stop the other threads from queueing behind a dead endpoint's timeouts.
                outage.set()
                return PutResult(request, PutStatus.UNAVAILABLE, error=f"{type(exc).__name__}: {exc}")
            return PutResult(request, PutStatus.RETRYABLE, error=f"{type(exc).__name__}: {exc}")
        consumed = response.get("ConsumedCapacity", {}).get("CapacityUnits")
        return PutResult(
            request,
            PutStatus.WRITTEN,
            requests=1 + int(response.get("ResponseMetadata", {}).get("RetryAttempts", 0)),
            consumed_wcu=float(consumed) if consumed is not None else _write_units(request.item),
        )

    def put_if_newer(self, requests: Sequence[PutRequest], *, allow_equal: bool = False) -> list[PutResult]:
        results: list[PutResult | None] = [None] * len(requests)
        pending: list[tuple[int, PutRequest]] = []
        for index, request in enumerate(requests):
            size = item_size(request.item)
            if size > MAX_ITEM_BYTES:
                results[index] = PutResult(
                    request,
                    PutStatus.PERMANENT,
                    error=oversize_error(size),
                )
            else:
                pending.append((index, request))
        outage = threading.Event()
        if len(pending) <= 1 or self.threads == 1:
            done = [self._put_one(request, allow_equal, outage) for _, request in pending]
        else:
            with ThreadPoolExecutor(
                max_workers=min(self.threads, len(pending)), thread_name_prefix="shared-tables-put"
            ) as pool:
                done = list(pool.map(lambda pair: self._put_one(pair[1], allow_equal, outage), pending))
        for (index, _), result in zip(pending, done, strict=True):
            results[index] = result
        return [result for result in results if result is not None]

    def delete_if_version(self, table: str, key: Sequence[str], version: int) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.delete_item(
                TableName=self.table_name(table),
                Key=self._key(table, key),
                ConditionExpression="#v = :v",
                ExpressionAttributeNames={"#v": "version"},
                ExpressionAttributeValues={":v": {"N": str(int(version))}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise SharedTablesError(f"DynamoDB DeleteItem: {exc}") from exc
        except Exception as exc:
            if self._is_unavailable(exc):
                raise TablesUnavailable(f"DynamoDB DeleteItem: {exc}") from exc
            raise
        return True

    # --- reads -----------------------------------------------------------------------------

    def get_item(self, table: str, key: Sequence[str]) -> Item | None:
        response = self._call("get_item", TableName=self.table_name(table), Key=self._key(table, key))
        attributes = response.get("Item")
        return None if attributes is None else from_item(attributes)

    def batch_get(self, keys: Sequence[ItemKey]) -> dict[ItemKey, Item]:
        check_batch_get(keys)
        by_name = {self.table_name(table): table for table in KEY_ATTRIBUTES}
        request: dict[str, Any] = {}
        for table, values in keys:
            request.setdefault(self.table_name(table), {"Keys": []})["Keys"].append(self._key(table, values))
        found: dict[ItemKey, Item] = {}
        # A loop of our own is right here, unlike around other calls: BatchGetItem answers 200 with
        # the keys it did not process (throttled partitions, 16 MB responses), not an error, so
        # botocore has nothing to retry. Only those keys are asked again, a bounded number of times.
        for attempt in range(_BATCH_GET_ATTEMPTS):
            if not request:
                break
            if attempt:
                time.sleep(unprocessed_backoff(attempt))
            response = self._call("batch_get_item", RequestItems=request)
            for name, items in response.get("Responses", {}).items():
                table = by_name[name]
                for attributes in items:
                    item = from_item(attributes)
                    found[(table, tuple(str(item[a]) for a in KEY_ATTRIBUTES[table]))] = item
            request = response.get("UnprocessedKeys") or {}
        if request:
            left = sum(len(entry["Keys"]) for entry in request.values())
            raise TablesUnavailable(
                f"DynamoDB BatchGetItem left {left} key(s) unprocessed after {_BATCH_GET_ATTEMPTS} attempts."
            )
        return found

    def _pages(self, operation: str, **kwargs: Any) -> Iterator[Item]:
        start: dict[str, Any] | None = None
        while True:
            page = self._call(operation, **kwargs, **({"ExclusiveStartKey": start} if start else {}))
            for attributes in page.get("Items", []):
                yield from_item(attributes)
            start = page.get("LastEvaluatedKey")
            if not start:
                return

    def scan(self, table: str) -> Iterator[Item]:
        return self._pages("scan", TableName=self.table_name(table))

    def query_partition(self, table: str, partition: str) -> Iterator[Item]:
        return self._pages(
            "query",
            TableName=self.table_name(table),
            KeyConditionExpression="#pk = :pk",
            ExpressionAttributeNames={"#pk": KEY_ATTRIBUTES[table][0]},
            ExpressionAttributeValues={":pk": {"S": partition}},
        )
