"""zappa_settings.json: every stage loads with Zappa's own loader, offline, and follows our rules."""

from __future__ import annotations

import fnmatch
import importlib
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from django.utils.module_loading import import_string

from tests.deploy.zappa_stages import (
    PRIMARY,
    ROOT,
    deploy_package_module,
    environment_of,
    load_stage,
    raw_settings,
    stages,
    unknown_keys,
    zappa_setting_names,
)

STAGES = stages()
SECRET_NAMES = re.compile(r"(SECRET_KEY|DATABASE_URL|PASSWORD|TOKEN|CREDENTIAL|PRIVATE)$")


@pytest.mark.parametrize("stage", STAGES)
def test_every_stage_loads_with_zappas_loader_without_credentials(stage: str) -> None:
    # given no AWS credentials (fake_aws) and no network (no_network),
    # when Zappa loads the stage and renders the settings module it bakes into the zip
    cli = load_stage(stage)
    rendered = cli.get_zappa_settings_string()
    # then the Django app, stage and region are what the stage says, and debug output is off
    assert cli.django_settings == "portal.settings.production"
    assert f"API_STAGE='{stage}'" in rendered
    assert "DJANGO_SETTINGS='portal.settings.production'" in rendered
    assert "DEBUG=False" in rendered
    assert cli.zappa.aws_region == cli.aws_region


def test_the_expected_stages_exist_and_the_second_region_extends_the_first() -> None:
    settings = raw_settings()
    assert set(settings) == {"dev", "staging", "prod_use1", "prod_apse2"}
    assert settings["prod_apse2"]["extends"] == "prod_use1"
    assert load_stage("prod_use1").aws_region == "us-east-1"
    assert load_stage("prod_apse2").aws_region == "ap-southeast-2"


@pytest.mark.parametrize("stage", STAGES)
def test_stage_names_are_valid_for_zappa(stage: str) -> None:
    assert re.fullmatch(r"[A-Za-z0-9_]+", stage)


def test_no_stage_has_a_key_zappa_would_silently_ignore() -> None:
    assert unknown_keys(raw_settings()) == {}


def test_the_unknown_key_check_catches_typos() -> None:
    # given keys a person might mistype, and ones Zappa really reads
    typo = {"dev": {"memory": 1024, "touchpath": "/healthcheck", "memory_size": 1024, "extends": "x"}}
    # then only the typos are reported
    assert unknown_keys(typo) == {"dev": ["memory", "touchpath"]}
    assert {"touch_path", "keep_warm", "aws_environment_variables", "exclude_glob"} <= zappa_setting_names()


@pytest.mark.parametrize("stage", STAGES)
def test_runtime_and_architecture_are_pinned(stage: str) -> None:
    cli = load_stage(stage)
    # Without `runtime` Zappa would take the local interpreter's version; stage_config is the
    # file's own keys merged along `extends`, without Zappa's defaults.
    assert "runtime" in cli.stage_config
    assert cli.runtime == "python3.12"
    assert cli.stage_config["architecture"] == "x86_64"


@pytest.mark.parametrize("stage", STAGES)
def test_serving_settings(stage: str) -> None:
    config = load_stage(stage).stage_config
    assert config["endpoint_configuration"] == ["REGIONAL"]
    assert config["touch_path"] == "/healthcheck"
    assert config["keep_warm"] is False
    assert config["route53_enabled"] is False
    assert config["slim_handler"] is False
    # Zappa's precompiled wheels would replace our checked-hash bytecode and need the network.
    assert config["use_precompiled_packages"] is False
    assert config["debug"] is False
    # 1,024-1,769 MB: Lambda gives CPU in proportion to memory and cold starts are CPU-bound.
    assert 1024 <= config["memory_size"] <= 1769
    # API Gateway stops waiting at 29 s; the scheduled jobs get a little more.
    assert 30 <= config["timeout_seconds"] <= 300
    assert isinstance(config["lambda_concurrency"], int) and config["lambda_concurrency"] >= 1


def test_each_region_has_its_own_code_bucket() -> None:
    buckets: dict[str, set[str]] = {}
    for stage in STAGES:
        cli = load_stage(stage)
        assert cli.aws_region in cli.s3_bucket_name
        buckets.setdefault(cli.s3_bucket_name, set()).add(cli.aws_region)
    assert all(len(regions) == 1 for regions in buckets.values())
    assert len(buckets) == 2


@pytest.mark.parametrize("stage", STAGES)
def test_lambda_environment_has_no_secrets_and_starts_django_in_init(stage: str) -> None:
    config = load_stage(stage).stage_config
    env: dict[str, str] = config["aws_environment_variables"]
    # `environment_variables` are baked into the zip: nothing is configured there.
    assert not config.get("environment_variables")
    assert env["INSTANTIATE_LAMBDA_HANDLER_ON_IMPORT"] == "True"
    assert env["DJANGO_SETTINGS_MODULE"] == "portal.settings.production"
    assert [name for name in env if SECRET_NAMES.search(name)] == []
    assert env["SECRET_KEY_SSM_PARAMETER"].startswith("/meridian/")
    assert env["DATABASE_URL_SECRET_ID"].startswith("meridian/")
    assert env["SHARED_TABLES_BACKEND"] == "dynamodb"
    assert env["STATIC_URL"].startswith("https://") and env["STATIC_URL"].endswith("/")
    assert env["ALLOWED_HOSTS"]


def test_production_regions_share_settings_but_not_regional_resources() -> None:
    use1 = load_stage("prod_use1").stage_config["aws_environment_variables"]
    apse2 = load_stage("prod_apse2").stage_config["aws_environment_variables"]
    # API keys and usage plans are regional, like the public API stages they attach to; so is each
    # function's on-failure queue.
    regional = {"ALLOWED_HOSTS", "MEDIA_BUCKET", "IMAGES_BUCKET", "API_GATEWAY_STAGES"}
    regional |= {"ASYNC_FAILURES_QUEUE"}
    assert {k: v for k, v in use1.items() if k not in regional} == {
        k: v for k, v in apse2.items() if k not in regional
    }
    assert use1["MEDIA_BUCKET"].endswith("us-east-1") and apse2["MEDIA_BUCKET"].endswith("ap-southeast-2")


def test_scheduled_events_run_in_one_region_per_environment() -> None:
    # given the stages grouped by environment (one database, one set of shared tables each)
    with_events: dict[str, list[str]] = {}
    for stage in STAGES:
        cli = load_stage(stage)
        if cli.stage_config.get("events"):
            with_events.setdefault(environment_of(cli), []).append(stage)
    # then only the primary stage of each environment schedules jobs
    assert with_events == {env: [stage] for env, stage in PRIMARY.items()}
    # and the secondary region says so explicitly, since `extends` would inherit the events
    assert raw_settings()["prod_apse2"]["events"] == []


def test_the_schedule_is_the_one_the_issue_asks_for() -> None:
    events = {
        event["function"]: event["expression"] for event in load_stage("prod_use1").stage_config["events"]
    }
    assert events == {
        "portal.scheduled.shared_tables_sweep": "rate(1 minute)",
        "portal.scheduled.labels_sweep": "rate(1 minute)",
        "portal.scheduled.gateway_usage_sync": "rate(1 hour)",
        "portal.scheduled.api_keys_expire": "cron(5 * * * ? *)",
        "portal.scheduled.shared_tables_reconcile": "cron(30 3 * * ? *)",
        "portal.scheduled.metrics_emit": "rate(1 minute)",
        "portal.scheduled.async_failures_drain": "rate(5 minutes)",
        "portal.scheduled.notifications_run": "rate(5 minutes)",
        "portal.scheduled.notifications_digest": "cron(0 7 * * ? *)",
        "portal.scheduled.notifications_prune": "cron(15 3 * * ? *)",
        "portal.scheduled.partner_traffic_import": "rate(5 minutes)",
        "portal.scheduled.partner_traffic_prune": "cron(45 2 * * ? *)",
        "portal.scheduled.sso_deactivate_stale": "cron(15 4 * * ? *)",
        "portal.scheduled.change_requests_apply_due": "rate(1 minute)",
    }


@pytest.mark.parametrize("stage", ["dev", "staging", "prod_use1"])
def test_every_event_function_imports_and_gets_a_valid_rule_name(stage: str) -> None:
    cli = load_stage(stage)
    for event in cli.stage_config["events"]:
        function = import_string(event["function"])
        assert callable(function)
        assert function.__code__.co_varnames[:2] == ("event", "context")
        # Zappa derives the EventBridge rule name from the function path and raises if invalid.
        rule = cli.zappa.get_scheduled_event_name(event, event["function"], cli.lambda_name)
        assert len(rule) <= 64
        # and its handler finds the function again from the rule name's last "-" part
        assert rule.split("-")[-1] == event["function"]
        assert re.fullmatch(
            r"(rate\(\d+ (minute|minutes|hour|hours|day|days)\)|cron\(.+\))", event["expression"]
        )


# --- exclude / exclude_glob --------------------------------------------------------------------
def _runtime_python_names() -> set[tuple[str, str]]:
    """(package, basename) of every Python package or module under the runtime dependencies."""
    site_packages = Path(importlib.import_module("django").__path__[0]).parent
    runtime = ("django", "rest_framework", "drf_spectacular", "storages", "django_filters", "django_htmx")
    names: set[tuple[str, str]] = set()
    for top in runtime:
        for path in (site_packages / top).rglob("*"):
            if path.suffix == ".py" or (path.is_dir() and (path / "__init__.py").exists()):
                names.add((top, path.name))
    for path in ROOT.iterdir():
        if (path / "apps.py").exists():
            names.update(("project", child.name) for child in path.rglob("*") if child.suffix == ".py")
    return names


@pytest.mark.parametrize("stage", STAGES)
def test_excludes_remove_no_python_module_django_or_meridian_needs(stage: str) -> None:
    # `exclude` patterns match file and folder names at any depth, site-packages included:
    # "staticfiles" would delete django.contrib.staticfiles.
    patterns = load_stage(stage).stage_config["exclude"]
    hits = sorted(
        (top, name)
        for top, name in _runtime_python_names()
        for pattern in patterns
        if fnmatch.fnmatch(name, pattern)
    )
    assert hits == []
    assert "staticfiles" not in patterns and "tests" not in patterns


@pytest.mark.parametrize("stage", STAGES)
def test_exclude_globs_are_top_level_patterns_zappa_can_apply(stage: str) -> None:
    # "**/tests/**" crashes `zappa package` in 0.63.0; absolute patterns are skipped by Zappa.
    for pattern in load_stage(stage).stage_config["exclude_glob"]:
        assert "**" not in pattern and not pattern.startswith("/")
        assert "/" not in pattern, "a nested glob also matches inside site-packages after the merge"


# --- IAM ---------------------------------------------------------------------------------------
def _policy(stage: str) -> dict[str, Any]:
    cli = load_stage(stage)
    policy: dict[str, Any] = json.loads((ROOT / cli.stage_config["attach_policy"]).read_text())
    return policy


def _allowed(policy: dict[str, Any], action: str, arn: str) -> bool:
    for statement in policy["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
        if (
            statement["Effect"] == "Allow"
            and action in actions
            and any(fnmatch.fnmatchcase(arn, pattern) for pattern in resources)
        ):
            return True
    return False


@pytest.mark.parametrize("stage", STAGES)
def test_the_role_can_reach_exactly_its_own_environments_resources(stage: str) -> None:
    cli = load_stage(stage)
    env = cli.stage_config["aws_environment_variables"]
    region, policy = cli.aws_region, _policy(stage)
    account = "123456789012"
    table = f"arn:aws:dynamodb:{region}:{account}:table/{env['SHARED_TABLES_PREFIX']}positions"
    media = f"arn:aws:s3:::{env['MEDIA_BUCKET']}/images/abc.jpg"
    parameter = f"arn:aws:ssm:{region}:{account}:parameter{env['SECRET_KEY_SSM_PARAMETER']}"
    secret = f"arn:aws:secretsmanager:{region}:{account}:secret:{env['DATABASE_URL_SECRET_ID']}-AbCdEf"
    function = f"arn:aws:lambda:{region}:{account}:function:{cli.lambda_name}"
    log_groups = env["PARTNER_ACCESS_LOG_GROUPS"].split(",")
    assert log_groups and all(log_groups)
    # given the resources this stage is configured with, the role may use them
    for action, arn in [
        ("dynamodb:PutItem", table),
        ("dynamodb:BatchGetItem", table),
        ("dynamodb:ConditionCheckItem", table),
        # reconcile --repair removes an orphan only if its version is unchanged (conditional)
        ("dynamodb:DeleteItem", table),
        ("s3:GetObject", media),
        ("s3:PutObject", media),
        ("ssm:GetParameters", parameter),
        ("secretsmanager:GetSecretValue", secret),
        ("lambda:InvokeFunction", function),
        ("apigateway:POST", f"arn:aws:apigateway:{region}::/apikeys"),
        ("apigateway:PATCH", f"arn:aws:apigateway:{region}::/usageplans/abc123"),
        ("rekognition:DetectModerationLabels", "*"),
        ("xray:PutTraceSegments", "*"),
        # Lambda's on-failure destination sends with the function's role; the drain job reads
        ("sqs:SendMessage", f"arn:aws:sqs:{region}:{account}:{env['ASYNC_FAILURES_QUEUE']}"),
        ("sqs:ReceiveMessage", f"arn:aws:sqs:{region}:{account}:{env['ASYNC_FAILURES_QUEUE']}"),
        ("sqs:DeleteMessage", f"arn:aws:sqs:{region}:{account}:{env['ASYNC_FAILURES_QUEUE']}"),
        # the scheduled access-log import queries the stage's access-log groups with Logs Insights
        *[("logs:StartQuery", f"arn:aws:logs:{region}:{account}:log-group:{g}") for g in log_groups],
        *[("logs:StartQuery", f"arn:aws:logs:{region}:{account}:log-group:{g}:*") for g in log_groups],
        ("logs:GetQueryResults", "*"),
        ("logs:StopQuery", "*"),
    ]:
        assert _allowed(policy, action, arn), (action, arn)
    # but not another environment's, nor anything destructive Meridian never does
    other = "dev" if env["MERIDIAN_ENVIRONMENT"] != "dev" else "prod"
    assert not _allowed(
        policy, "dynamodb:PutItem", f"arn:aws:dynamodb:{region}:{account}:table/meridian-{other}-positions"
    )
    assert not _allowed(
        policy, "ssm:GetParameters", f"arn:aws:ssm:{region}:{account}:parameter/meridian/{other}/secret-key"
    )
    assert not _allowed(
        policy,
        "logs:StartQuery",
        f"arn:aws:logs:{region}:{account}:log-group:/aws/apigateway/meridian-public-{other}-access",
    )
    assert not _allowed(policy, "logs:StartQuery", f"arn:aws:logs:{region}:{account}:log-group:/aws/lambda/x")
    assert not _allowed(policy, "dynamodb:DeleteTable", table)
    assert not _allowed(policy, "s3:GetObject", "arn:aws:s3:::meridian-zappa-code-us-east-1/x.zip")


def test_policies_use_no_wildcard_actions_and_star_resources_only_where_aws_requires() -> None:
    star_ok = {"ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DeleteNetworkInterface",
               "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses",
               "rekognition:DetectLabels", "rekognition:DetectModerationLabels",
               "xray:PutTraceSegments", "xray:PutTelemetryRecords",
               # Logs Insights results are addressed by query id: no resource-level permissions
               "logs:GetQueryResults", "logs:StopQuery"}  # fmt: skip
    for path in sorted((ROOT / "deploy" / "iam").glob("*.json")):
        for statement in json.loads(path.read_text())["Statement"]:
            assert all("*" not in action for action in statement["Action"]), path.name
            if statement["Resource"] == "*":
                assert set(statement["Action"]) <= star_ok, (path.name, statement["Sid"])


def test_environment_policies_differ_only_in_the_environment_name() -> None:
    texts = {path.stem: path.read_text() for path in (ROOT / "deploy" / "iam").glob("*.json")}
    assert set(texts) == {"dev", "staging", "prod"}

    def generic(name: str) -> str:
        return re.sub(rf"(?<=[-/]){name}(?=[-/*])", "ENV", texts[name])

    assert generic("dev") == generic("staging") == generic("prod")
    assert "ENV" in generic("prod") and "prod" not in generic("prod")


# --- the package's botocore allow-list -----------------------------------------------------------
def test_every_aws_client_the_code_creates_is_kept_in_the_package() -> None:
    # given every boto3 client/resource created by Meridian's code and Zappa's runtime modules
    pattern = re.compile(r"""\.(?:client|resource)\(\s*["']([a-z0-9-]+)["']""")
    zappa_dir = Path(importlib.import_module("zappa").__path__[0])
    sources = [
        *[p for p in ROOT.glob("*/**/*.py")
          if p.parts[len(ROOT.parts)] not in {"tests", "bench", "deploy", "build", "var"}
          and not p.parts[len(ROOT.parts)].startswith(".")],
        # utilities.py also holds the CLI's event-source code (EventBridge, SQS...), never run on Lambda.
        zappa_dir / "handler.py", zappa_dir / "asynchronous.py",
        # The production email backend (portal/settings/production.py) creates its own client.
        Path(importlib.import_module("anymail.backends.amazon_ses").__file__ or ""),
    ]  # fmt: skip
    used = {name for path in sources for name in pattern.findall(path.read_text(errors="ignore"))}
    # then the package keeps all of their botocore models
    keep = deploy_package_module().BOTOCORE_SERVICES
    assert used, "no client found: the pattern is broken"
    assert used <= keep, sorted(used - keep)


def test_the_build_refuses_an_interpreter_that_is_not_the_runtime() -> None:
    module = deploy_package_module()
    other = "python3.99"
    with pytest.raises(SystemExit, match="python3.99"):
        module.check_interpreter({"runtime": other})
    module.check_interpreter({"runtime": f"python{sys.version_info.major}.{sys.version_info.minor}"})


def test_the_role_allows_every_dynamodb_call_the_shared_tables_adapter_makes() -> None:
    # given the operations positioning/dynamodb.py sends (create_table is an operator's
    # one-time job with their own credentials, docs/deploy.md)
    source = (ROOT / "positioning" / "dynamodb.py").read_text()
    calls = set(re.findall(r"""(?:_call|_pages)\(\s*["']([a-z_]+)["']|client\.([a-z_]+)\(""", source))
    operations = {name for pair in calls for name in pair if name} - {
        "create_table",
        "get_waiter",
        "get_paginator",
    }
    assert {"get_item", "put_item"} <= operations
    policy = _policy("prod_use1")
    table = "arn:aws:dynamodb:us-east-1:123456789012:table/meridian-prod-positions"
    for operation in sorted(operations):
        action = "dynamodb:" + "".join(part.title() for part in operation.split("_"))
        assert _allowed(policy, action, table), action
