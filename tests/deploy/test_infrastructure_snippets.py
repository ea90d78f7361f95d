"""deploy/*.yaml: the snippets docs/deploy.md ships agree with the code they describe."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from portal.health import HEALTH_PATH
from positioning.tables import KEY_ATTRIBUTES
from tests.deploy.zappa_stages import ROOT, raw_settings


class CloudFormationLoader(yaml.SafeLoader):
    """Reads CloudFormation's short-form tags (!Ref, !Sub, !If...) as plain values."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node, deep=True)}
    return {suffix: loader.construct_mapping(node, deep=True)}  # type: ignore[arg-type]


CloudFormationLoader.add_multi_constructor("!", _tag)


def template(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.load(path.read_text(), Loader=CloudFormationLoader)  # noqa: S506
    return data


def test_the_global_tables_have_the_keys_the_shared_tables_code_uses() -> None:
    resources = template(ROOT / "deploy" / "cloudformation" / "shared-tables.yaml")["Resources"]
    tables = {}
    for resource in resources.values():
        properties = resource["Properties"]
        name = properties["TableName"]["Sub"].removeprefix("${Prefix}")
        tables[name] = tuple(key["AttributeName"] for key in properties["KeySchema"])
        assert properties["BillingMode"] == "PAY_PER_REQUEST"
        assert all(d["AttributeType"] == "S" for d in properties["AttributeDefinitions"])
        assert properties["Replicas"][0]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"]
    assert tables == KEY_ATTRIBUTES


def test_route53_health_checks_match_the_health_endpoint_and_the_production_stages() -> None:
    resources = template(ROOT / "deploy" / "route53-failover.yaml")["Resources"]
    checks = [
        r["Properties"]["HealthCheckConfig"] for r in resources.values() if r["Type"].endswith("HealthCheck")
    ]
    stages = {config["ResourcePath"].split("/")[1] for config in checks}
    assert stages == {"prod_use1", "prod_apse2"} and stages <= set(raw_settings())
    for config in checks:
        assert config["Type"] == "HTTPS_STR_MATCH"
        assert config["SearchString"] == "ok"
        assert config["ResourcePath"].endswith(HEALTH_PATH)
    records = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Route53::RecordSet"]
    assert {record["Region"] for record in records} == {"us-east-1", "ap-southeast-2"}
    assert all("HealthCheckId" in record for record in records)
