"""deploy/canary.py against botocore's Stubber: the exact alias routing for promote and rollback."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from tests.deploy.zappa_stages import ROOT

FUNCTION, ALIAS = "meridian-prod-use1", "live"
T0 = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)


def load_canary() -> ModuleType:
    spec = importlib.util.spec_from_file_location("meridian_canary", ROOT / "deploy" / "canary.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


canary = load_canary()


class Clock:
    """A fake clock that `sleep` advances: the watch loop runs in no time."""

    def __init__(self) -> None:
        self.at = T0
        self.slept: list[float] = []

    def now(self) -> datetime:
        return self.at

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.at += timedelta(seconds=seconds)


@pytest.fixture
def clients() -> Iterator[tuple[Any, Stubber, Any, Stubber]]:
    lam = boto3.client("lambda", region_name="us-east-1")
    cw = boto3.client("cloudwatch", region_name="us-east-1")
    with Stubber(lam) as lam_stub, Stubber(cw) as cw_stub:
        yield lam, lam_stub, cw, cw_stub
        lam_stub.assert_no_pending_responses()
        cw_stub.assert_no_pending_responses()


def no_alarms(cw_stub: Stubber, firing: list[str] | None = None) -> None:
    cw_stub.add_response(
        "describe_alarms",
        {"MetricAlarms": [{"AlarmName": name} for name in firing or []]},
        {"AlarmNamePrefix": f"{FUNCTION}-", "StateValue": "ALARM", "MaxRecords": 100},
    )


def errors(cw_stub: Stubber, version: str, count: float) -> None:
    cw_stub.add_response(
        "get_metric_statistics",
        {"Label": "Errors", "Datapoints": [{"Sum": count, "Timestamp": T0}] if count else []},
        {
            "Namespace": "AWS/Lambda",
            "MetricName": "Errors",
            "Dimensions": [
                {"Name": "FunctionName", "Value": FUNCTION},
                {"Name": "Resource", "Value": f"{FUNCTION}:{ALIAS}"},
                {"Name": "ExecutedVersion", "Value": version},
            ],
            "StartTime": ANY,
            "EndTime": ANY,
            "Period": 60,
            "Statistics": ["Sum"],
        },
    )


def publish_and_get_alias(lam_stub: Stubber, *, new: str, stable: str) -> None:
    lam_stub.add_response(
        "publish_version", {"Version": new}, {"FunctionName": FUNCTION, "Description": "canary"}
    )
    lam_stub.add_response(
        "get_alias", {"Name": ALIAS, "FunctionVersion": stable}, {"FunctionName": FUNCTION, "Name": ALIAS}
    )


def update_alias(lam_stub: Stubber, *, version: str, weights: dict[str, float]) -> None:
    lam_stub.add_response(
        "update_alias",
        {"Name": ALIAS, "FunctionVersion": version},
        {
            "FunctionName": FUNCTION,
            "Name": ALIAS,
            "FunctionVersion": version,
            "RoutingConfig": {"AdditionalVersionWeights": weights},
        },
    )


def run(lam: Any, cw: Any, clock: Clock, **kwargs: Any) -> Any:
    lines: list[str] = []
    result = canary.run_canary(
        lam, cw, function=FUNCTION, alias=ALIAS, sleep=clock.sleep, now=clock.now, log=lines.append, **kwargs
    )
    result.lines = lines
    return result


def test_a_healthy_canary_takes_ten_percent_then_is_promoted(clients: Any) -> None:
    lam, lam_stub, cw, cw_stub = clients
    clock = Clock()
    # given version 42 serves, and the update brought version 43
    no_alarms(cw_stub)
    publish_and_get_alias(lam_stub, new="43", stable="42")
    # then 10 % goes to 43 while the alias stays on 42
    update_alias(lam_stub, version="42", weights={"43": 0.1})
    # and three checks (every 60 s for 3 minutes) find nothing wrong
    for _ in range(3):
        no_alarms(cw_stub)
        errors(cw_stub, "43", 0)
    # then the alias moves to 43 with no extra weights
    update_alias(lam_stub, version="43", weights={})
    result = run(lam, cw, clock, weight=0.1, watch_seconds=180, interval=60)
    assert (result.outcome, result.stable_version, result.new_version, result.exit_code) == (
        "promoted",
        "42",
        "43",
        0,
    )
    assert clock.slept == [60, 60, 60]


def test_an_alarm_during_the_watch_rolls_back_at_once(clients: Any) -> None:
    lam, lam_stub, cw, cw_stub = clients
    clock = Clock()
    no_alarms(cw_stub)
    publish_and_get_alias(lam_stub, new="43", stable="42")
    update_alias(lam_stub, version="42", weights={"43": 0.1})
    no_alarms(cw_stub)
    errors(cw_stub, "43", 0)
    # when the API's 5xx alarm fires at the second check
    no_alarms(cw_stub, firing=[f"{FUNCTION}-api-5xx"])
    errors(cw_stub, "43", 0)
    # then all traffic goes back to 42, the canary's weight removed
    update_alias(lam_stub, version="42", weights={})
    result = run(lam, cw, clock, weight=0.1, watch_seconds=600, interval=60)
    assert (result.outcome, result.exit_code) == ("rolled back", 1)
    assert result.reasons == [f"alarm {FUNCTION}-api-5xx"]
    assert len(clock.slept) == 2  # no waiting for the rest of the watch


def test_errors_of_the_new_version_alone_roll_back(clients: Any) -> None:
    lam, lam_stub, cw, cw_stub = clients
    clock = Clock()
    no_alarms(cw_stub)
    publish_and_get_alias(lam_stub, new="43", stable="42")
    update_alias(lam_stub, version="42", weights={"43": 0.25})
    # the function-wide alarms stay quiet, but version 43 errs
    no_alarms(cw_stub)
    errors(cw_stub, "43", 3)
    update_alias(lam_stub, version="42", weights={})
    result = run(lam, cw, clock, weight=0.25, watch_seconds=600, interval=30, max_errors=1)
    assert result.outcome == "rolled back"
    assert result.reasons == ["version 43 had 3 error(s)"]


def test_no_canary_starts_during_an_incident(clients: Any) -> None:
    lam, lam_stub, cw, cw_stub = clients
    no_alarms(cw_stub, firing=[f"{FUNCTION}-outbox-age"])
    result = run(lam, cw, Clock())
    assert (result.outcome, result.exit_code) == ("refused", 2)  # and no Lambda call at all


def test_the_first_release_creates_the_alias(clients: Any) -> None:
    lam, lam_stub, cw, cw_stub = clients
    no_alarms(cw_stub)
    lam_stub.add_response(
        "publish_version", {"Version": "1"}, {"FunctionName": FUNCTION, "Description": "canary"}
    )
    lam_stub.add_client_error(
        "get_alias", service_error_code="ResourceNotFoundException", http_status_code=404
    )
    lam_stub.add_response(
        "create_alias", {"Name": ALIAS}, {"FunctionName": FUNCTION, "Name": ALIAS, "FunctionVersion": "1"}
    )
    assert run(lam, cw, Clock()).outcome == "first release"


def test_an_unchanged_function_is_not_released_again(clients: Any) -> None:
    lam, lam_stub, cw, cw_stub = clients
    no_alarms(cw_stub)
    publish_and_get_alias(lam_stub, new="42", stable="42")
    assert run(lam, cw, Clock()).outcome == "nothing to release"


def test_manual_rollback_points_the_alias_back_without_weights(clients: Any) -> None:
    lam, lam_stub, _, _ = clients
    update_alias(lam_stub, version="41", weights={})
    canary.rollback(lam, function=FUNCTION, alias=ALIAS, version="41")


@pytest.mark.parametrize("weight", [0, 1, 1.5])
def test_a_weight_outside_zero_and_one_is_refused(clients: Any, weight: float) -> None:
    lam, _, cw, _ = clients
    with pytest.raises(ValueError):
        run(lam, cw, Clock(), weight=weight)
