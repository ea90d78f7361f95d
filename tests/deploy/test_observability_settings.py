"""Tracing, metrics and the on-failure queue as zappa_settings.json configures them per stage."""

from __future__ import annotations

import pytest

from tests.deploy.zappa_stages import load_stage, stages

STAGES = stages()


@pytest.mark.parametrize("stage", STAGES)
def test_xray_tracing_and_the_apps_tracing_switch_agree(stage: str) -> None:
    # Zappa's `xray_tracing` makes Lambda sample and send traces; TRACING_ENABLED makes the app
    # open subsegments. One without the other is either blind or wasted.
    config = load_stage(stage).stage_config
    env = config["aws_environment_variables"]
    assert env["TRACING_ENABLED"] in ("0", "1")
    assert bool(config.get("xray_tracing", False)) is (env["TRACING_ENABLED"] == "1")


def test_tracing_is_off_in_dev_so_the_cold_start_benchmark_measures_the_plain_package() -> None:
    assert load_stage("dev").stage_config["aws_environment_variables"]["TRACING_ENABLED"] == "0"
    assert all(
        load_stage(stage).stage_config["aws_environment_variables"]["TRACING_ENABLED"] == "1"
        for stage in ("staging", "prod_use1", "prod_apse2")
    )


@pytest.mark.parametrize("stage", STAGES)
def test_each_function_has_its_own_on_failure_queue(stage: str) -> None:
    cli = load_stage(stage)
    queue = cli.stage_config["aws_environment_variables"]["ASYNC_FAILURES_QUEUE"]
    assert queue == f"{cli.lambda_name}-async-failures"


def test_no_two_functions_share_an_on_failure_queue() -> None:
    queues = [load_stage(s).stage_config["aws_environment_variables"]["ASYNC_FAILURES_QUEUE"] for s in STAGES]
    assert len(set(queues)) == len(queues)
