"""deploy/alarms.yaml, the on-failure queue and deploy/pipeline.yaml, read as CloudFormation reads them.

cfn-lint (in `make lint`) checks them against CloudFormation's schemas; these tests check what the
schemas cannot: that each alarm the issue asks for exists and notifies, that alarms watch metrics
Meridian really emits, that the dashboard is valid JSON, and the pipeline's order and commands.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml
from cfnlint.decode import decode

from portal.observability.metrics import UNITS
from tests.deploy.zappa_stages import ROOT, load_stage


def template(path: str) -> dict[str, Any]:
    parsed, problems = decode(str(ROOT / path))
    assert not problems, problems
    return dict(parsed)


def resources(path: str, kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template(path)["Resources"].items() if r["Type"] == kind}


ALARMS = resources("deploy/alarms.yaml", "AWS::CloudWatch::Alarm")


def watched(alarm: dict[str, Any]) -> set[tuple[str, str]]:
    props = alarm["Properties"]
    if "MetricName" in props:
        return {(props["Namespace"], props["MetricName"])}
    return {
        (m["MetricStat"]["Metric"]["Namespace"], m["MetricStat"]["Metric"]["MetricName"])
        for m in props["Metrics"]
        if "MetricStat" in m
    }


def test_every_alarm_the_issue_asks_for_exists() -> None:
    metrics = set().union(*(watched(alarm) for alarm in ALARMS.values()))
    assert {
        ("AWS/Lambda", "Errors"),
        ("AWS/Lambda", "Throttles"),
        ("AWS/Lambda", "Duration"),
        ("AWS/ApiGateway", "5XXError"),
        ("AWS/ApiGateway", "Latency"),
        ("Meridian", "OutboxOldestAgeSeconds"),
        ("Meridian", "OutboxDeadLetters"),
        ("Meridian", "LabellingFailures"),
        ("Meridian", "GatewaySyncFailures"),
        ("Meridian", "AsyncFailures"),
        ("AWS/DynamoDB", "WriteThrottleEvents"),
    } <= metrics


@pytest.mark.parametrize("name", sorted(ALARMS))
def test_each_alarm_notifies_the_topic_both_ways(name: str) -> None:
    props = ALARMS[name]["Properties"]
    assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    assert props["OKActions"] == [{"Ref": "AlarmTopic"}]
    assert props["AlarmName"]["Fn::Sub"].startswith("${FunctionName}-")  # the canary watches this prefix


def test_meridian_alarms_watch_metrics_the_code_emits_with_its_dimension() -> None:
    for alarm in ALARMS.values():
        props = alarm["Properties"]
        if props.get("Namespace") == "Meridian":
            assert props["MetricName"] in UNITS
            assert props["Dimensions"] == [{"Name": "Environment", "Value": {"Ref": "Environment"}}]


def test_the_duration_alarm_defaults_to_80_percent_of_the_functions_timeout() -> None:
    default = template("deploy/alarms.yaml")["Parameters"]["DurationAlarmMilliseconds"]["Default"]
    assert int(default) == load_stage("prod_use1").stage_config["timeout_seconds"] * 1000 * 0.8


def test_the_dashboard_is_valid_json_once_substituted() -> None:
    (dashboard,) = resources("deploy/alarms.yaml", "AWS::CloudWatch::Dashboard").values()
    body = re.sub(r"\$\{[^}]+\}", "1", dashboard["Properties"]["DashboardBody"]["Fn::Sub"])
    widgets = json.loads(body)["widgets"]
    assert {w["type"] for w in widgets} == {"alarm", "metric"}
    assert len(widgets[0]["properties"]["alarms"]) == len(ALARMS)


def test_async_invocations_of_latest_fail_over_to_the_queue_named_in_the_settings() -> None:
    parsed = template("deploy/cloudformation/async-failures.yaml")["Resources"]
    config = parsed["LatestEventInvokeConfig"]["Properties"]
    assert config["Qualifier"] == "$LATEST" and config["MaximumRetryAttempts"] == 2
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": ["AsyncFailuresQueue", "Arn"]
    }
    queue = parsed["AsyncFailuresQueue"]["Properties"]["QueueName"]["Fn::Sub"]
    cli = load_stage("dev")
    assert (
        queue.replace("${FunctionName}", cli.lambda_name)
        == (cli.stage_config["aws_environment_variables"]["ASYNC_FAILURES_QUEUE"])
    )


# --- the pipeline -----------------------------------------------------------------------------

PIPELINE = template("deploy/pipeline.yaml")


def stages() -> list[dict[str, Any]]:
    return list(PIPELINE["Resources"]["Pipeline"]["Properties"]["Stages"])


def action_env(action: dict[str, Any]) -> dict[str, str]:
    raw = action["Configuration"]["EnvironmentVariables"]["Fn::Sub"]
    return {v["name"]: v["value"] for v in json.loads(raw)}


def test_the_pipeline_runs_test_package_dev_staging_approval_production() -> None:
    assert [s["Name"] for s in stages()] == [
        "Source",
        "Test",
        "Package",
        "Dev",
        "Staging",
        "Approval",
        "Production",
    ]
    approval = stages()[5]["Actions"][0]["ActionTypeId"]
    assert (approval["Category"], approval["Provider"]) == ("Approval", "Manual")


def test_every_deploy_uses_the_packages_built_once_and_production_goes_region_by_region_with_canaries() -> (
    None
):
    deploys = [a for s in stages()[3:] for a in s["Actions"] if a["ActionTypeId"]["Category"] == "Build"]
    assert all(a["InputArtifacts"] == [{"Name": "Packages"}] for a in deploys)
    envs = [action_env(a) for a in deploys]
    assert [(e["STAGE"], e["CANARY"]) for e in envs] == [
        ("dev", "0"),
        ("staging", "0"),
        ("prod_use1", "1"),
        ("prod_apse2", "1"),
    ]
    assert [a.get("RunOrder") for a in stages()[6]["Actions"]] == [1, 2]
    for env in envs:
        assert env["REGION"] == load_stage(env["STAGE"]).aws_region


def buildspec(project: str) -> dict[str, Any]:
    return dict(yaml.safe_load(PIPELINE["Resources"][project]["Properties"]["Source"]["BuildSpec"]))


def test_buildspecs_parse_and_call_what_exists() -> None:
    makefile = (ROOT / "Makefile").read_text()
    for command in buildspec("TestProject")["phases"]["build"]["commands"]:
        assert command.startswith("make ")
        for name in command.split()[1:]:
            assert re.search(rf"^{name}:", makefile, re.M), name
    package = " ".join(buildspec("PackageProject")["phases"]["build"]["commands"])
    assert "make package STAGE=$stage" in package and "prod_apse2" in package
    deploy = " ".join(buildspec("DeployProject")["phases"]["build"]["commands"])
    assert "zappa update $STAGE --zip build/meridian-$STAGE.zip" in deploy
    for script in ("deploy/canary.py", "deploy/smoke.py"):
        assert script in deploy and (ROOT / script).exists()
    # migrations never run from the secondary region, which shares the primary's database
    assert 'if [ "$STAGE" != prod_apse2 ]; then' in deploy
