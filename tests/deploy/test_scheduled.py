"""portal/scheduled.py: each Zappa event runs the management command local runs use."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from django.core.management import get_commands, load_command_class
from zappa.handler import LambdaHandler

from portal import scheduled
from tests.deploy.handler_support import zappa_handler
from tests.deploy.zappa_stages import load_stage

EXPECTED = {
    "shared_tables_sweep": ("shared_tables", "publish"),
    "shared_tables_reconcile": ("shared_tables", "reconcile", "--repair"),
    "gateway_usage_sync": ("gateway", "sync-usage"),
    "api_keys_expire": ("gateway", "expire-keys"),
    "labels_sweep": ("labels", "sweep"),
    "metrics_emit": ("metrics",),
    "async_failures_drain": ("async_failures", "drain"),
    "notifications_run": ("notifications", "run"),
    "notifications_digest": ("notifications", "digest"),
    "notifications_prune": ("notifications", "prune"),
    "partner_traffic_import": ("partners_traffic", "import-due"),
    "partner_traffic_prune": ("partners_traffic", "prune"),
    "sso_deactivate_stale": ("sso", "deactivate-stale", "--days", "30"),
    "change_requests_apply_due": ("change_requests", "apply-due"),
}


@pytest.mark.parametrize(("function", "command"), EXPECTED.items())
def test_each_event_function_calls_its_management_command(function: str, command: tuple[str, ...]) -> None:
    # given the management command is stubbed and writes a summary
    def fake_call_command(name: str, *args: str, stdout: Any, stderr: Any) -> None:
        stdout.write(f"ran {name} {' '.join(args)}\n")

    with mock.patch.object(scheduled, "call_command", side_effect=fake_call_command) as call:
        # when Zappa calls the scheduled function with an EventBridge event
        result = getattr(scheduled, function)({"detail-type": "Scheduled Event"}, None)
    # then it ran exactly that command once, and returns its output for the log
    assert call.call_count == 1
    assert call.call_args.args == command
    assert result == f"ran {' '.join(command)}"


def test_every_scheduled_function_in_zappa_settings_is_mapped_to_a_command() -> None:
    functions = {event["function"] for event in load_stage("prod_use1").stage_config["events"]}
    assert functions == {f"portal.scheduled.{name}" for name in EXPECTED}
    assert scheduled.COMMANDS == EXPECTED


@pytest.mark.parametrize(("function", "command"), EXPECTED.items())
def test_each_command_exists_and_accepts_the_scheduled_arguments(
    function: str, command: tuple[str, ...]
) -> None:
    # The commands are owned by their areas; this checks the names and arguments still match.
    name, *args = command
    commands = get_commands()
    assert name in commands, f"manage.py {name} does not exist (needed by portal.scheduled.{function})"
    parser = load_command_class(commands[name], name).create_parser("manage.py", name)
    parser.parse_args(args)


def test_a_failing_command_is_reported_as_itself_not_as_a_bad_signature() -> None:
    # given a command that raises TypeError (Zappa's run_function would retry it with fewer
    # arguments and then blame the function's signature)
    failing = mock.patch.object(scheduled, "call_command", side_effect=TypeError("bad batch size"))
    # when Zappa runs the scheduled function, then the real cause surfaces
    with failing, pytest.raises(scheduled.ScheduledJobFailed, match="labels sweep failed: bad batch size"):
        LambdaHandler.run_function(scheduled.labels_sweep, {}, None)


@pytest.mark.django_db
@pytest.mark.parametrize("function", list(EXPECTED))
def test_zappas_handler_routes_the_eventbridge_rule_to_the_function(
    function: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given the rule name Zappa creates for this event in the primary region
    cli = load_stage("prod_use1")
    event_config = next(e for e in cli.stage_config["events"] if e["function"].endswith(f".{function}"))
    rule = cli.zappa.get_scheduled_event_name(event_config, event_config["function"], cli.lambda_name)
    event = {
        "version": "0",
        "id": "0b4a3d2e-1111-2222-3333-444455556666",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-11-27T03:30:00Z",
        "region": "us-east-1",
        "resources": [f"arn:aws:events:us-east-1:123456789012:rule/{rule}"],
        "detail": {},
    }
    calls: list[tuple[str, ...]] = []
    monkeypatch.setattr(scheduled, "call_command", lambda name, *args, **kwargs: calls.append((name, *args)))
    # when Zappa's real handler receives the EventBridge event
    with zappa_handler("prod_use1", monkeypatch) as handler:
        result = handler.handler(event, None)
    # then the scheduled function ran its command
    assert calls == [EXPECTED[function]]
    assert result == ""
