"""Canary release of one Lambda function through a weighted alias, promoted or rolled back alone.

    python deploy/canary.py --function meridian-prod-use1 --region us-east-1 \
        --alias live --weight 0.1 --watch-minutes 10

API Gateway invokes the alias (`apigateway_lambda_qualifier: "live"` in zappa_settings.json), and
`zappa update` has just put the new code in $LATEST. The script then:

1. refuses to start while any of the stage's alarms (deploy/alarms.yaml, named `<function>-…`) is
   already in ALARM: a canary cannot be judged during an incident (exit 2);
2. publishes a version (idempotent: Lambda returns the existing one when $LATEST is unchanged, e.g.
   when Zappa already published it); the first release creates the alias on it and stops;
3. `UpdateAlias` keeps the alias on the stable version and sends `--weight` of the traffic to the
   new one (`RoutingConfig.AdditionalVersionWeights`);
4. for `--watch-minutes`, every `--interval` seconds, checks the stage's alarms and the new
   version's own `Errors` (Lambda's `ExecutedVersion` dimension), since a 10 % canary can fail
   without moving function-wide alarms;
5. promotes (the alias moves to the new version, no extra weights), or rolls back at the first bad
   sign (the alias stays on the stable version, no extra weights) and exits 1.

Both versions serve during the watch, so migrations must be backward compatible (docs/deploy.md).
Only boto3 is needed; the tests drive it with botocore's Stubber (tests/deploy/test_canary.py).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

EXIT_PROMOTED, EXIT_ROLLED_BACK, EXIT_REFUSED = 0, 1, 2


def say(message: str) -> None:
    """One line for the pipeline's log, with a UTC time stamp."""
    sys.stdout.write(f"{datetime.now(UTC):%H:%M:%S} {message}\n")
    sys.stdout.flush()


@dataclass
class CanaryResult:
    outcome: str  # "promoted", "rolled back", "refused", "first release", "nothing to release"
    stable_version: str | None
    new_version: str | None
    reasons: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if self.outcome == "rolled back":
            return EXIT_ROLLED_BACK
        if self.outcome == "refused":
            return EXIT_REFUSED
        return EXIT_PROMOTED


def firing_alarms(cloudwatch: Any, prefix: str) -> list[str]:
    """Names of the stage's alarms in ALARM state."""
    names: list[str] = []
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {"AlarmNamePrefix": prefix, "StateValue": "ALARM", "MaxRecords": 100}
        if token:
            kwargs["NextToken"] = token
        page = cloudwatch.describe_alarms(**kwargs)
        names += [a["AlarmName"] for a in page.get("MetricAlarms", []) + page.get("CompositeAlarms", [])]
        token = page.get("NextToken")
        if not token:
            return names


def version_errors(
    cloudwatch: Any, *, function: str, alias: str, version: str, since: datetime, until: datetime
) -> float:
    """Errors of `version` served through `alias` between `since` and `until`."""
    answer = cloudwatch.get_metric_statistics(
        Namespace="AWS/Lambda",
        MetricName="Errors",
        Dimensions=[
            {"Name": "FunctionName", "Value": function},
            {"Name": "Resource", "Value": f"{function}:{alias}"},
            {"Name": "ExecutedVersion", "Value": version},
        ],
        StartTime=since,
        EndTime=until,
        Period=60,
        Statistics=["Sum"],
    )
    return float(sum(point["Sum"] for point in answer.get("Datapoints", [])))


def route(lambda_client: Any, *, function: str, alias: str, version: str, canary: dict[str, float]) -> None:
    """Point `alias` at `version`, with `canary` ({version: weight}) as its extra routing."""
    lambda_client.update_alias(
        FunctionName=function,
        Name=alias,
        FunctionVersion=version,
        RoutingConfig={"AdditionalVersionWeights": canary},
    )


def run_canary(
    lambda_client: Any,
    cloudwatch: Any,
    *,
    function: str,
    alias: str = "live",
    weight: float = 0.1,
    watch_seconds: float = 600,
    interval: float = 60,
    max_errors: float = 0,
    alarm_prefix: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    log: Callable[[str], None] = say,
) -> CanaryResult:
    """Shift `weight` of `alias`'s traffic to a new version, watch, then promote or roll back."""
    if not 0 < weight < 1:
        raise ValueError("--weight must be between 0 and 1 (exclusive).")
    prefix = alarm_prefix if alarm_prefix is not None else f"{function}-"
    already = firing_alarms(cloudwatch, prefix)
    if already:
        log(f"refusing to start: alarms already firing: {', '.join(already)}")
        return CanaryResult("refused", None, None, [f"alarm {name}" for name in already])

    new = str(lambda_client.publish_version(FunctionName=function, Description="canary")["Version"])
    try:
        stable = str(lambda_client.get_alias(FunctionName=function, Name=alias)["FunctionVersion"])
    except lambda_client.exceptions.ResourceNotFoundException:
        lambda_client.create_alias(FunctionName=function, Name=alias, FunctionVersion=new)
        log(f"first release: created alias {alias} on version {new}")
        return CanaryResult("first release", None, new)
    if stable == new:
        log(f"alias {alias} already serves version {new}: nothing to release")
        return CanaryResult("nothing to release", stable, new)

    route(lambda_client, function=function, alias=alias, version=stable, canary={new: weight})
    started = now()
    log(f"canary: {weight:.0%} of {function}:{alias} to version {new}, {1 - weight:.0%} stays on {stable}")
    deadline = started + timedelta(seconds=watch_seconds)
    while True:
        sleep(interval)
        reasons = [f"alarm {name}" for name in firing_alarms(cloudwatch, prefix)]
        errors = version_errors(
            cloudwatch,
            function=function,
            alias=alias,
            version=new,
            since=started - timedelta(minutes=1),
            until=now(),
        )
        if errors > max_errors:
            reasons.append(f"version {new} had {errors:.0f} error(s)")
        if reasons:
            route(lambda_client, function=function, alias=alias, version=stable, canary={})
            log(f"rolled back to version {stable}: {'; '.join(reasons)}")
            return CanaryResult("rolled back", stable, new, reasons)
        if now() >= deadline:
            break
        log(f"version {new} healthy so far ({(now() - started).total_seconds():.0f}s)")
    route(lambda_client, function=function, alias=alias, version=new, canary={})
    log(f"promoted: {function}:{alias} serves version {new}")
    return CanaryResult("promoted", stable, new)


def rollback(lambda_client: Any, *, function: str, alias: str, version: str) -> None:
    """Put every request of `alias` back on `version` at once (the manual "quick rollback")."""
    route(lambda_client, function=function, alias=alias, version=version, canary={})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--function", required=True, help="e.g. meridian-prod-use1")
    parser.add_argument("--region", required=True)
    parser.add_argument("--alias", default="live")
    parser.add_argument("--weight", type=float, default=0.1, help="share of traffic for the new version")
    parser.add_argument("--watch-minutes", type=float, default=10)
    parser.add_argument("--interval", type=float, default=60, help="seconds between checks")
    parser.add_argument("--max-errors", type=float, default=0, help="errors of the new version tolerated")
    parser.add_argument("--rollback-to", help="skip the canary: point the alias at this version now")
    args = parser.parse_args(argv)

    import boto3
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30)
    lambda_client = boto3.client("lambda", region_name=args.region, config=config)
    if args.rollback_to:
        rollback(lambda_client, function=args.function, alias=args.alias, version=args.rollback_to)
        say(f"{args.function}:{args.alias} serves version {args.rollback_to}")
        return EXIT_PROMOTED
    cloudwatch = boto3.client("cloudwatch", region_name=args.region, config=config)
    result = run_canary(
        lambda_client,
        cloudwatch,
        function=args.function,
        alias=args.alias,
        weight=args.weight,
        watch_seconds=args.watch_minutes * 60,
        interval=args.interval,
        max_errors=args.max_errors,
    )
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
