"""API Gateway errors are classified by AWS's error code and HTTP status, never by message text
(botocore's Stubber answers with each error as AWS would)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from accounts.partners.gateway import GatewayError
from accounts.partners.gateway.apigateway import ApiGatewayBackend
from accounts.partners.gateway.base import KeySpec, PlanSpec


@pytest.fixture
def stubbed(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ApiGatewayBackend, Stubber]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    client = boto3.client("apigateway", region_name="eu-west-1")
    with Stubber(client) as stubber:
        yield ApiGatewayBackend(client=client), stubber
        stubber.assert_no_pending_responses()


def plan(gateway_id: str = "up1") -> PlanSpec:
    return PlanSpec(
        pk=1,
        gateway_id=gateway_id,
        name="Gold",
        description="",
        rate=10,
        burst=20,
        quota_limit=None,
        quota_period="",
        quota_offset=0,
        stages=(),
    )


def key(gateway_id: str = "key1") -> KeySpec:
    return KeySpec(
        pk=7,
        gateway_id=gateway_id,
        name="meridian-7-acme-tv",
        description="acme: tv",
        enabled=True,
        present=True,
        plan_gateway_id="up1",
        plan_pk=1,
    )


@pytest.mark.parametrize(
    ("code", "status", "retryable"),
    [
        ("TooManyRequestsException", 429, True),
        ("LimitExceededException", 429, True),
        ("ServiceUnavailableException", 503, True),
        ("InternalFailure", 500, True),
        ("SomethingNewException", 502, True),
        ("BadRequestException", 400, False),
        ("ConflictException", 409, False),
        ("NotFoundException", 404, False),
        ("UnauthorizedException", 401, False),
    ],
)
def test_errors_are_retryable_by_code_and_status(
    stubbed: tuple[ApiGatewayBackend, Stubber], code: str, status: int, retryable: bool
) -> None:
    # given AWS answers the call with `code`
    backend, stubber = stubbed
    stubber.add_client_error("get_usage_plan", service_error_code=code, http_status_code=status)
    # when the adapter calls it
    with pytest.raises(GatewayError) as caught:
        backend._call("get_usage_plan", usagePlanId="up1")
    # then the error carries AWS's code and status, and retryable follows from them alone
    assert (caught.value.code, caught.value.status, caught.value.retryable) == (code, status, retryable)


def test_not_found_is_read_from_the_code_not_the_message(stubbed: tuple[ApiGatewayBackend, Stubber]) -> None:
    # given a plan AWS no longer has, then a bad request whose message mentions "NotFound"
    backend, stubber = stubbed
    stubber.add_client_error("get_usage_plan", service_error_code="NotFoundException", http_status_code=404)
    stubber.add_client_error(
        "get_usage_plan",
        service_error_code="BadRequestException",
        service_message="Invalid id: NotFound characters",
        http_status_code=400,
    )
    # when each plan is deleted: the missing one is already gone (nothing else is called) ...
    backend.plan_delete(plan())
    # ... and the bad request is an error, final
    with pytest.raises(GatewayError) as caught:
        backend.plan_delete(plan())
    assert caught.value.code == "BadRequestException"
    assert caught.value.retryable is False


def test_a_conflict_adding_the_key_to_its_plan_means_it_is_there(
    stubbed: tuple[ApiGatewayBackend, Stubber],
) -> None:
    # given a key that exists, is not seen on its plan, and is added by someone else meanwhile
    backend, stubber = stubbed
    stubber.add_response("get_api_key", {"id": "key1", "name": "meridian-7-acme-tv", "enabled": True})
    stubber.add_client_error(
        "get_usage_plan_key", service_error_code="NotFoundException", http_status_code=404
    )
    stubber.add_client_error(
        "create_usage_plan_key", service_error_code="ConflictException", http_status_code=409
    )
    # when the key is synced, then the conflict counts as done
    assert backend.key_put(key(), None) == "key1"


def test_a_listing_that_fails_is_classified_too(stubbed: tuple[ApiGatewayBackend, Stubber]) -> None:
    backend, stubber = stubbed
    stubber.add_client_error(
        "get_usage_plans", service_error_code="AccessDeniedException", http_status_code=403
    )
    with pytest.raises(GatewayError) as caught:
        backend.inventory()
    assert caught.value.code == "AccessDeniedException"
    assert caught.value.retryable is False


def test_no_answer_at_all_is_retryable(monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.exceptions import EndpointConnectionError

    class Unreachable:
        def get_usage_plan(self, **kwargs: Any) -> Any:
            raise EndpointConnectionError(endpoint_url="https://apigateway.eu-west-1.amazonaws.com")

    with pytest.raises(GatewayError) as caught:
        ApiGatewayBackend(client=Unreachable())._call("get_usage_plan", usagePlanId="up1")
    assert caught.value.retryable is True
    assert caught.value.code == ""
