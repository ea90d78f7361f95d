"""The DynamoDB adapter on its own: lazy boto3, client settings, attribute values, errors, retries."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from positioning.dynamodb import DynamoTables, from_attribute, from_item, parse_read_as_json, to_attribute
from positioning.tables import PutRequest, PutStatus, SharedTablesError, TablesUnavailable

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def mocked(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[DynamoTables]:
    """The adapter against moto's in-process mock (fast), tables created."""
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)
    with mock_aws(config={"core": {"reset_boto3_session": False}}):
        tables = DynamoTables(prefix="unit-", threads=4)
        tables.create_tables()
        yield tables


def stubbed(threads: int = 1) -> tuple[DynamoTables, Stubber]:
    client = boto3.session.Session().client("dynamodb", region_name="us-east-1")
    return DynamoTables(prefix="stub-", threads=threads, client=client), Stubber(client)


def test_importing_the_adapter_and_the_reader_does_not_import_boto3() -> None:
    # Given a fresh interpreter
    code = (
        "import sys; import positioning.dynamodb, positioning.reader;"
        "print('boto3' in sys.modules, 'botocore' in sys.modules)"
    )

    # When the modules are imported
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)

    # Then boto3 is not loaded (a cold start pays for it only when it is used)
    assert out.stdout.strip() == "False False"


def test_the_client_uses_standard_retries_timeouts_and_the_endpoint_variable(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given AWS_ENDPOINT_URL_DYNAMODB pointing at a local emulator
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8123")

    # When the adapter creates its client
    client = DynamoTables(prefix="x-", threads=12, max_attempts=5, connect_timeout=1.5, read_timeout=4).client

    # Then botocore's standard retry mode, the timeouts, the pool and the endpoint are set
    config = client.meta.config
    assert config.retries == {"mode": "standard", "total_max_attempts": 5}
    assert (config.connect_timeout, config.read_timeout) == (1.5, 4)
    assert config.max_pool_connections >= 12
    assert client.meta.endpoint_url == "http://127.0.0.1:8123"


@pytest.mark.parametrize(
    "value",
    [None, True, False, 0, -7, 2**62, 1.5, 0.00001, "", "naïve ✓", [], [1, "a", None], {"a": {"b": [1.25]}}],
)
def test_attribute_values_round_trip(value: Any) -> None:
    # Given a JSON-like value, when it is converted to an AttributeValue and back, then it is unchanged
    assert from_attribute(to_attribute(value)) == value


ALL_KINDS = {
    "content_id": "c-kinds",
    "text": "naïve ✓",
    "empty": "",
    "whole": 2**62,
    "negative": -7,
    "fraction": 0.00001,
    "yes": True,
    "no": False,
    "nothing": None,
    "tags": ["ocean", "reef"],
    "mixed": [1, "a", None, {"deep": [1.25, {"x": "y"}]}],
    "rights": {"allow": [], "deny": ["FR"], "not_before": None, "expires": "2027-01-01T00:00:00Z"},
    "version": 3,
}


def test_reads_parsed_with_json_equal_botocores_own_parse(mocked: DynamoTables) -> None:
    # Given an item holding every kind of value the shared tables store, and a position
    stored = [
        PutRequest("content", ALL_KINDS),
        PutRequest("positions", {"market": "AU", "content_id": "c-kinds", "version": 1}),
    ]
    assert [r.status for r in mocked.put_if_newer(stored)] == [PutStatus.WRITTEN, PutStatus.WRITTEN]
    # and a plain client without the fast path, reading the same tables
    plain = boto3.session.Session().client("dynamodb", region_name="us-east-1")
    assert plain.meta.events is not mocked.client.meta.events

    # When each read goes through the adapter (json.loads) and through botocore's parser
    fast = {
        "get_item": mocked.get_item("content", ("c-kinds",)),
        "batch_get": mocked.batch_get([("content", ("c-kinds",)), ("positions", ("AU", "c-kinds"))]),
        "query": list(mocked.query_partition("positions", "AU")),
        "scan": list(mocked.scan("content")),
    }
    slow_content = from_item(
        plain.get_item(TableName="unit-content", Key={"content_id": {"S": "c-kinds"}})["Item"]
    )
    slow_position = from_item(
        plain.query(
            TableName="unit-positions",
            KeyConditionExpression="market = :m",
            ExpressionAttributeValues={":m": {"S": "AU"}},
        )["Items"][0]
    )

    # Then every read gives the same values as botocore's parse, and those are what was stored
    assert slow_content == ALL_KINDS
    assert fast["get_item"] == slow_content
    assert fast["batch_get"] == {
        ("content", ("c-kinds",)): slow_content,
        ("positions", ("AU", "c-kinds")): slow_position,
    }
    assert fast["query"] == [slow_position]
    assert fast["scan"] == [slow_content]
    # and the adapter's client does take the JSON path for each of the four reads
    for operation in ("GetItem", "BatchGetItem", "Query", "Scan"):
        answer = {"status_code": 200, "headers": {}, "body": b'{"Items": []}'}
        parsed: dict[str, Any] = {}
        mocked.client.meta.events.emit(
            f"before-parse.dynamodb.{operation}", response_dict=answer, customized_response_dict=parsed
        )
        assert (parsed, answer["body"]) == ({"Items": []}, b"{}"), operation


def test_requests_built_by_the_adapter_are_not_walked_by_botocores_validator(
    mocked: DynamoTables, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given botocore's parameter validator, counted
    from botocore.validate import ParamValidator

    calls: list[str] = []
    original = ParamValidator.validate

    def counted(self: ParamValidator, params: Any, shape: Any) -> Any:
        calls.append(shape.name)
        return original(self, params, shape)

    monkeypatch.setattr(ParamValidator, "validate", counted)

    # When the adapter writes and reads, and a plain client reads once
    mocked.put_if_newer([PutRequest("content", {"content_id": "c-1", "version": 1})])
    mocked.batch_get([("content", ("c-1",))])
    assert calls == []
    boto3.session.Session().client("dynamodb", region_name="us-east-1").list_tables()

    # Then only the plain client's request was validated (the adapter's are built from checked items)
    assert calls == ["ListTablesInput"]


def test_the_json_fast_path_handles_only_successful_answers() -> None:
    # Given a successful answer and an error answer, as botocore hands them to before-parse
    ok = {"status_code": 200, "headers": {}, "body": b'{"Item": {"a": {"N": "1"}}}'}
    error = {"status_code": 400, "headers": {}, "body": b'{"__type": "ValidationException"}'}
    ok_parsed: dict[str, Any] = {}
    error_parsed: dict[str, Any] = {}

    # When the hook sees them
    parse_read_as_json(response_dict=ok, customized_response_dict=ok_parsed)
    parse_read_as_json(response_dict=error, customized_response_dict=error_parsed)

    # Then the success is parsed here and botocore is left an empty body; the error is botocore's
    assert ok_parsed == {"Item": {"a": {"N": "1"}}} and ok["body"] == b"{}"
    assert error_parsed == {} and error["body"] == b'{"__type": "ValidationException"}'


def test_nan_cannot_be_stored() -> None:
    with pytest.raises(TypeError):
        to_attribute(float("nan"))


def test_creating_tables_uses_on_demand_billing_and_the_documented_keys(mocked: DynamoTables) -> None:
    # Given the tables created by the fixture
    # When positions' and markets' descriptions are read
    positions = mocked.client.describe_table(TableName="unit-positions")["Table"]
    markets = mocked.client.describe_table(TableName="unit-markets")["Table"]

    # Then they are PAY_PER_REQUEST with the contract's keys
    assert positions["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert positions["KeySchema"] == [
        {"AttributeName": "market", "KeyType": "HASH"},
        {"AttributeName": "content_id", "KeyType": "RANGE"},
    ]
    assert markets["KeySchema"] == [{"AttributeName": "market", "KeyType": "HASH"}]
    assert sorted(mocked.client.list_tables()["TableNames"]) == [
        "unit-content",
        "unit-images",
        "unit-markets",
        "unit-positions",
    ]


def test_parallel_puts_report_each_item(mocked: DynamoTables) -> None:
    # Given 40 items, two of them stale duplicates
    mocked.put_if_newer([PutRequest("content", {"content_id": "c-0", "version": 9})])
    requests = [PutRequest("content", {"content_id": f"c-{n}", "version": 1}) for n in range(40)]

    # When they are put through the thread pool
    results = mocked.put_if_newer(requests)

    # Then results come back in request order, one request and one WCU each
    assert [r.request for r in results] == requests
    assert [r.status for r in results] == [PutStatus.SUPERSEDED] + [PutStatus.WRITTEN] * 39
    assert sum(r.requests for r in results) == 40
    assert sum(r.consumed_wcu for r in results) == 40.0


@pytest.mark.parametrize(
    ("code", "http_status", "expected"),
    [
        ("ConditionalCheckFailedException", 400, PutStatus.SUPERSEDED),
        ("ProvisionedThroughputExceededException", 400, PutStatus.RETRYABLE),
        ("ThrottlingException", 400, PutStatus.RETRYABLE),
        ("InternalServerError", 500, PutStatus.RETRYABLE),
        ("ResourceNotFoundException", 400, PutStatus.RETRYABLE),
        ("ValidationException", 400, PutStatus.PERMANENT),
        ("AccessDeniedException", 400, PutStatus.UNAVAILABLE),
    ],
)
def test_errors_are_classified_per_item(
    aws_env: None, code: str, http_status: int, expected: PutStatus
) -> None:
    # Given DynamoDB answering a put with `code` (after botocore's own retries)
    tables, stubber = stubbed()
    stubber.add_client_error("put_item", service_error_code=code, http_status_code=http_status)

    # When an item is put
    with stubber:
        [result] = tables.put_if_newer([PutRequest("markets", {"market": "AU", "version": 1})])

    # Then the outcome says what the publisher should do with it
    assert result.status == expected
    assert result.done is (expected == PutStatus.SUPERSEDED)


def test_an_unreachable_endpoint_stops_the_remaining_puts_quickly(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an endpoint where nothing listens
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", f"http://127.0.0.1:{port}")
    tables = DynamoTables(prefix="x-", threads=4, max_attempts=1, connect_timeout=0.5)
    requests = [PutRequest("content", {"content_id": f"c-{n}", "version": 1}) for n in range(200)]

    # When 200 items are put
    started = time.monotonic()
    results = tables.put_if_newer(requests)

    # Then every item is reported unavailable, and most were never attempted
    assert {r.status for r in results} == {PutStatus.UNAVAILABLE}
    assert sum(1 for r in results if "Skipped" in r.error) > 150
    assert time.monotonic() - started < 10


def test_batch_get_retries_unprocessed_keys(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given DynamoDB leaving one key unprocessed on the first call
    monkeypatch.setattr("positioning.dynamodb.time.sleep", lambda seconds: None)
    tables, stubber = stubbed()
    key_a = {"content_id": {"S": "a"}}
    key_b = {"content_id": {"S": "b"}}
    stubber.add_response(
        "batch_get_item",
        {
            "Responses": {"stub-content": [{"content_id": {"S": "a"}, "version": {"N": "1"}}]},
            "UnprocessedKeys": {"stub-content": {"Keys": [key_b]}},
        },
        {"RequestItems": {"stub-content": {"Keys": [key_a, key_b]}}},
    )
    stubber.add_response(
        "batch_get_item",
        {"Responses": {"stub-content": [{"content_id": {"S": "b"}, "version": {"N": "2"}}]}},
        {"RequestItems": {"stub-content": {"Keys": [key_b]}}},
    )

    # When both keys are read
    with stubber:
        found = tables.batch_get([("content", ("a",)), ("content", ("b",))])

    # Then the unprocessed key was asked again, and both items are returned
    stubber.assert_no_pending_responses()
    assert {k: v["version"] for k, v in found.items()} == {("content", ("a",)): 1, ("content", ("b",)): 2}


def test_batch_get_gives_up_after_bounded_retries(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given DynamoDB that never processes a key
    sleeps: list[float] = []
    monkeypatch.setattr("positioning.dynamodb.time.sleep", sleeps.append)
    tables, stubber = stubbed()
    for _ in range(6):
        stubber.add_response(
            "batch_get_item",
            {"Responses": {}, "UnprocessedKeys": {"stub-content": {"Keys": [{"content_id": {"S": "a"}}]}}},
        )

    # When the key is read, then it fails after six attempts with growing, jittered waits
    with stubber, pytest.raises(TablesUnavailable, match="unprocessed"):
        tables.batch_get([("content", ("a",))])
    assert len(sleeps) == 5
    assert all(0 <= s <= 1.0 for s in sleeps)


def test_no_dynamodb_request_is_made_for_an_oversized_item(aws_env: None) -> None:
    # Given a stubbed client that expects no call at all
    tables, stubber = stubbed()

    # When a 500 KB item is put
    with stubber:
        [result] = tables.put_if_newer(
            [PutRequest("content", {"content_id": "x", "version": 1, "t": "x" * 500_000})]
        )

    # Then it is refused in our code
    assert result.status == PutStatus.PERMANENT
    stubber.assert_no_pending_responses()


def test_reader_environment_selects_the_backend(tmp_path: Path) -> None:
    # Given the environment a public-API Lambda would set for the embedded backend
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
        "SHARED_TABLES_BACKEND": "local",
        "SHARED_TABLES_PREFIX": "env-",
        "SHARED_TABLES_LOCAL_PATH": str(tmp_path / "t.sqlite3"),
    }
    code = (
        "from positioning.reader import SharedTablesReader;"
        "r = SharedTablesReader.from_env(); print(r.tables.backend_name, r.tables.table_name('markets'))"
    )

    # When a reader is built from it
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )

    # Then it reads the local file with the prefix
    assert out.stdout.split() == ["local", "env-markets"]


@pytest.mark.parametrize(
    ("code", "message", "expected"),
    [
        # The message reads like another error: the code alone decides.
        ("ConditionalCheckFailedException", "Throughput exceeded, try again", PutStatus.SUPERSEDED),
        ("ValidationException", "Rate of requests exceeds the allowed throughput", PutStatus.PERMANENT),
        ("ProvisionedThroughputExceededException", "The conditional request failed", PutStatus.RETRYABLE),
    ],
)
def test_put_errors_are_classified_by_code_not_by_message(
    aws_env: None, code: str, message: str, expected: PutStatus
) -> None:
    tables, stubber = stubbed()
    stubber.add_client_error(
        "put_item", service_error_code=code, service_message=message, http_status_code=400
    )
    with stubber:
        [result] = tables.put_if_newer([PutRequest("markets", {"market": "AU", "version": 1})])
    assert result.status == expected


def test_an_unknown_5xx_error_is_retryable_by_its_status(aws_env: None) -> None:
    tables, stubber = stubbed()
    stubber.add_client_error("put_item", service_error_code="SomethingNewException", http_status_code=503)
    with stubber:
        [result] = tables.put_if_newer([PutRequest("markets", {"market": "AU", "version": 1})])
    assert result.status == PutStatus.RETRYABLE


def test_a_delete_whose_version_moved_on_is_refused_and_a_missing_table_is_an_error(aws_env: None) -> None:
    # Given a stored item whose version is no longer the one asked for, then a missing table
    tables, stubber = stubbed()
    stubber.add_client_error("delete_item", service_error_code="ConditionalCheckFailedException")
    stubber.add_client_error("delete_item", service_error_code="ResourceNotFoundException")
    with stubber:
        # When deleting, then the first is a refusal (False) and the second an error
        assert tables.delete_if_version("markets", ("AU",), 3) is False
        with pytest.raises(SharedTablesError, match="ResourceNotFoundException"):
            tables.delete_if_version("markets", ("AU",), 3)


def test_unprocessed_key_backoff_is_full_jitter_and_capped() -> None:
    from positioning.dynamodb import unprocessed_backoff

    for attempt in range(1, 12):
        waits = [unprocessed_backoff(attempt) for _ in range(100)]
        assert all(0 <= w <= min(1.0, 0.05 * 2**attempt) for w in waits)
