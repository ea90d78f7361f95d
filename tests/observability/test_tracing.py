"""X-Ray subsegments around every adapter's AWS calls and the database, with market and role."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from django.core.files.base import ContentFile
from django.db import connection
from moto import mock_aws

from accounts.models import User
from accounts.partners.gateway import GatewayError
from accounts.partners.gateway.apigateway import ApiGatewayBackend
from content.labels.labellers.base import ImageRef
from content.labels.labellers.rekognition import RekognitionLabeller, client_config
from portal.observability import context, tracing
from portal.observability.tracing import traced
from positioning.dynamodb import DynamoTables
from positioning.tables import PutRequest
from tests.deploy.zappa_stages import ROOT
from tests.labels.conftest import fixture
from tests.observability.conftest import Trace

pytestmark = pytest.mark.django_db


def annotations(subsegment: dict[str, Any]) -> dict[str, Any]:
    return dict(subsegment.get("annotations", {}))


def test_traced_block_and_decorator_carry_the_bound_market_and_role(xray: Trace) -> None:
    # given a request about market DE by an editor
    @traced("publisher", "drain")
    def drain() -> str:
        return "drained"

    with context.scope(market="DE", role="editor"):
        # when a block and a decorated function run
        with traced("shared_tables", "publish", batch=3):
            pass
        assert drain() == "drained"
        # and a traced block fails
        with pytest.raises(ValueError), traced("labelling", "run_job"):
            raise ValueError("bad image")
    xray.finish()
    # then each is a subsegment annotated with service, operation, market and role
    block, decorated, failed = xray.subsegments()
    assert block["name"] == "shared_tables"
    assert annotations(block) == {
        "service": "shared_tables",
        "operation": "publish",
        "market": "DE",
        "role": "editor",
        "batch": 3,
    }
    assert annotations(decorated)["operation"] == "drain"
    # and the failure is recorded on its subsegment
    assert failed.get("fault") is True or failed.get("error") is True
    assert failed["cause"]["exceptions"][0]["type"] == "ValueError"


def test_dynamodb_calls_are_aws_subsegments_with_table_market_and_role(xray: Trace) -> None:
    with mock_aws(config={"core": {"reset_boto3_session": False}}):
        tables = DynamoTables(prefix="meridian-trace-", threads=1)
        tables.create_tables()
        with context.scope(market="AU", role="market_manager"):
            tables.put_if_newer(
                [PutRequest("markets", {"market": "AU", "version": 1, "updated_at": "2026-12-06T00:00:00Z"})]
            )
            assert tables.get_item("markets", ["AU"]) is not None
    xray.finish()
    dynamo = xray.subsegments("DynamoDB")
    operations = [annotations(s)["operation"] for s in dynamo]
    assert "CreateTable" in operations and "PutItem" in operations and "GetItem" in operations
    put = next(s for s in dynamo if annotations(s)["operation"] == "PutItem")
    assert put["namespace"] == "aws"
    assert annotations(put) | {} == {
        "service": "DynamoDB",
        "operation": "PutItem",
        "market": "AU",
        "role": "market_manager",
        "table": "meridian-trace-markets",
        "retries": 0,
        "throttled": False,
    }
    assert put["aws"]["operation"] == "PutItem"


def test_a_throttled_api_gateway_call_is_flagged_and_annotated(xray: Trace) -> None:
    # given API Gateway answers the second call with 429 TooManyRequests
    client = boto3.client("apigateway", region_name="us-east-1")
    backend = ApiGatewayBackend(client=client)
    with Stubber(client) as stubber:
        stubber.add_response("get_stages", {"item": [{"stageName": "prod"}]}, {"restApiId": "a1"})
        stubber.add_client_error(
            "get_stages", service_error_code="TooManyRequestsException", http_status_code=429
        )
        with context.scope(role="admin"):
            assert backend.validate_stages(["a1:prod"]) == {}
            with pytest.raises(GatewayError):
                backend.validate_stages(["b2:prod"])
    xray.finish()
    ok, throttled = xray.subsegments("API Gateway")
    assert annotations(ok)["throttled"] is False and annotations(ok)["role"] == "admin"
    # then the throttle can be found from the trace: annotation, error code and X-Ray's flag
    assert annotations(throttled)["throttled"] is True
    assert annotations(throttled)["error_code"] == "TooManyRequestsException"
    assert throttled["throttle"] is True


def test_rekognition_calls_are_traced(xray: Trace) -> None:
    client = boto3.client("rekognition", region_name="us-east-1", config=client_config())
    labeller = RekognitionLabeller(client=client, min_confidence=55)
    with Stubber(client) as stubber:
        stubber.add_response("detect_labels", fixture("detect_labels__aws_docs_mobile_phone__corrected.json"))
        stubber.add_response("detect_moderation_labels", fixture("detect_moderation_labels__clean.json"))
        with context.scope(job="labels_sweep"):
            labeller.label(ImageRef(bucket="meridian-images", key="images/ab/abc.jpg", checksum="ab" * 32))
    xray.finish()
    calls = xray.subsegments("Rekognition")
    assert [annotations(s)["operation"] for s in calls] == ["DetectLabels", "DetectModerationLabels"]
    assert all(annotations(s)["job"] == "labels_sweep" for s in calls)


def test_s3_storage_calls_are_traced(xray: Trace) -> None:
    from storages.backends.s3 import S3Storage

    with mock_aws(config={"core": {"reset_boto3_session": False}}):
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="meridian-media-test")
        storage = S3Storage(bucket_name="meridian-media-test", region_name="us-east-1")
        # (the upload itself runs in s3transfer's threads, which X-Ray follows on Lambda only)
        name = storage.save("images/a.txt", ContentFile(b"image bytes"))
        with context.scope(role="reviewer"):
            assert storage.exists(name)
    xray.finish()
    s3 = xray.subsegments("S3")
    head = next(s for s in s3 if annotations(s)["operation"] == "HeadObject")
    assert annotations(head)["bucket"] == "meridian-media-test"
    assert annotations(head)["role"] == "reviewer"


def test_database_queries_are_traced_by_verb_without_parameters(xray: Trace, admin_user: User) -> None:
    with tracing.db_tracing(connection), context.scope(market="DE"):
        assert User.objects.filter(username="admin").count() == 1
    xray.finish()
    (query,) = xray.subsegments("database")
    assert annotations(query)["operation"] == "SELECT"
    assert annotations(query)["db"] == connection.vendor
    assert annotations(query)["market"] == "DE"
    assert "admin" not in json.dumps(query)  # no parameters, no SQL text


def test_tracing_off_records_nothing(settings: Any, aws_env: None) -> None:
    settings.TRACING_ENABLED = False
    with traced("dynamodb", "PutItem") as subsegment:
        assert subsegment is None


def _fresh_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TRACING")}
    environ.update({"DJANGO_SETTINGS_MODULE": "portal.settings.test", **env})
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120
    )


PROBE = """
import sys, django
django.setup()
from portal.observability.tracing import traced
started = {name: name in sys.modules for name in ("aws_xray_sdk", "wrapt", "boto3")}
with traced("dynamodb", "PutItem"):
    pass
print(started, "aws_xray_sdk" in sys.modules)
"""


def test_start_up_never_imports_the_sdk_and_off_never_at_all() -> None:
    off = _fresh_python(PROBE, TRACING_ENABLED="0")
    assert off.returncode == 0, off.stderr
    assert off.stdout.split("\n")[0] == "{'aws_xray_sdk': False, 'wrapt': False, 'boto3': False} False"
    on = _fresh_python(PROBE, TRACING_ENABLED="1")
    assert on.returncode == 0, on.stderr
    # on: nothing heavy at start-up (wrapt's import hook only); the SDK on the first traced call
    assert on.stdout.split("\n")[0] == "{'aws_xray_sdk': False, 'wrapt': True, 'boto3': False} True"
