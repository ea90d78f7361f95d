"""portal/secrets.py: secrets from the environment, SSM or Secrets Manager, fetched once, lazily."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from secrets import token_urlsafe
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.server import ThreadedMotoServer

from portal import secrets
from tests.deploy.zappa_stages import ROOT

RDS_SECRET = {
    "engine": "postgres",
    "host": "meridian.cluster-abc.us-east-1.rds.amazonaws.com",
    "port": 5432,
    "username": "meridian_app",
    "password": "p@ss/word:with#chars",
    "dbname": "meridian",
}


@pytest.fixture(autouse=True)
def clean_cache() -> Iterator[None]:
    secrets.forget()
    yield
    secrets.forget()


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws(config={"core": {"reset_boto3_session": False}}):
        yield


class CountingSSM:
    """Counts GetParameters calls made through portal.secrets' cached SSM client."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, **kwargs: Any) -> None:
        self.calls += 1


@pytest.fixture
def ssm_calls(aws: None) -> CountingSSM:
    counter = CountingSSM()
    client = secrets._client("ssm")
    client.meta.events.register("before-call.ssm.GetParameters", counter)
    return counter


def test_a_value_in_the_environment_wins_and_never_loads_boto3(monkeypatch: pytest.MonkeyPatch) -> None:
    # given boto3 cannot even be imported
    monkeypatch.setitem(sys.modules, "boto3", None)
    env = {"SECRET_KEY": "from-env", "SECRET_KEY_SSM_PARAMETER": "/meridian/dev/secret-key"}
    # then the environment's value is used without touching AWS
    assert secrets.secret("SECRET_KEY", environ=env) == "from-env"


def test_a_missing_secret_names_every_way_to_provide_it() -> None:
    with pytest.raises(secrets.SecretUnavailable) as error:
        secrets.secret("SECRET_KEY", environ={})
    assert "SECRET_KEY_SSM_PARAMETER" in str(error.value) and "SECRET_KEY_SECRET_ID" in str(error.value)


def test_ssm_secure_string_is_read_once_and_cached(ssm_calls: CountingSSM) -> None:
    # given a SecureString parameter
    boto3.client("ssm").put_parameter(Name="/meridian/dev/secret-key", Value="k" * 50, Type="SecureString")
    env = {"SECRET_KEY_SSM_PARAMETER": "/meridian/dev/secret-key"}
    # when the settings ask for it twice (and it changes in between)
    first = secrets.secret("SECRET_KEY", environ=env)
    boto3.client("ssm").put_parameter(Name="/meridian/dev/secret-key", Value="rotated", Overwrite=True)
    second = secrets.secret("SECRET_KEY", environ=env)
    # then it is decrypted, and SSM is asked only once per process
    assert first == second == "k" * 50
    assert ssm_calls.calls == 1


def test_preload_reads_several_parameters_in_one_call(ssm_calls: CountingSSM) -> None:
    ssm = boto3.client("ssm")
    ssm.put_parameter(Name="/meridian/dev/secret-key", Value="key", Type="SecureString")
    ssm.put_parameter(Name="/meridian/dev/database-url", Value="postgres://u:p@h:5432/d", Type="SecureString")
    env = {
        "SECRET_KEY_SSM_PARAMETER": "/meridian/dev/secret-key",
        "DATABASE_URL_SSM_PARAMETER": "/meridian/dev/database-url",
    }
    secrets.preload(["SECRET_KEY", "DATABASE_URL"], environ=env)
    assert secrets.secret("SECRET_KEY", environ=env) == "key"
    assert secrets.secret("DATABASE_URL", environ=env) == "postgres://u:p@h:5432/d"
    assert ssm_calls.calls == 1


def test_a_missing_parameter_is_a_clear_error(aws: None) -> None:
    env = {"SECRET_KEY_SSM_PARAMETER": "/meridian/dev/nope"}
    with pytest.raises(secrets.SecretUnavailable, match="/meridian/dev/nope"):
        secrets.secret("SECRET_KEY", environ=env)


def test_database_url_from_an_rds_managed_secret(aws: None) -> None:
    # given the JSON secret RDS manages (and rotates) for the database
    boto3.client("secretsmanager").create_secret(
        Name="meridian/dev/database", SecretString=json.dumps(RDS_SECRET)
    )
    env = {"DATABASE_URL_SECRET_ID": "meridian/dev/database"}
    # then settings get a URL with the password escaped
    url = secrets.secret("DATABASE_URL", environ=env)
    assert url == (
        "postgres://meridian_app:p%40ss%2Fword%3Awith%23chars"
        "@meridian.cluster-abc.us-east-1.rds.amazonaws.com:5432/meridian"
    )
    import dj_database_url

    parsed = dj_database_url.parse(url)
    assert (parsed["USER"], parsed["PASSWORD"], parsed["NAME"]) == (
        "meridian_app",
        RDS_SECRET["password"],
        "meridian",
    )


def test_a_plain_string_secret_is_used_as_is(aws: None) -> None:
    boto3.client("secretsmanager").create_secret(Name="meridian/dev/django", SecretString="plain-key")
    assert (
        secrets.secret("SECRET_KEY", environ={"SECRET_KEY_SECRET_ID": "meridian/dev/django"}) == "plain-key"
    )


@pytest.mark.parametrize("bad", ['{"host": "h"}', "{not json"])
def test_an_incomplete_json_database_secret_is_refused(bad: str) -> None:
    with pytest.raises(secrets.SecretUnavailable):
        secrets.database_url_from_secret(bad)


def test_an_unreadable_secret_is_a_clear_error(aws: None) -> None:
    with pytest.raises(secrets.SecretUnavailable, match="meridian/dev/missing"):
        secrets.secret("SECRET_KEY", environ={"SECRET_KEY_SECRET_ID": "meridian/dev/missing"})


@pytest.fixture
def moto_server() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def test_production_settings_start_with_secrets_from_ssm_and_secrets_manager(moto_server: str) -> None:
    # given the secret key in SSM and the database in an RDS-style secret (moto on loopback)
    ssm = boto3.client("ssm", endpoint_url=moto_server)
    ssm.put_parameter(Name="/meridian/prod/secret-key", Value=token_urlsafe(48), Type="SecureString")
    boto3.client("secretsmanager", endpoint_url=moto_server).create_secret(
        Name="meridian/prod/database", SecretString=json.dumps(RDS_SECRET)
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("SECRET_KEY", "DATABASE_URL", "DJANGO_SETTINGS_MODULE")
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "portal.settings.production",
            "AWS_ENDPOINT_URL": moto_server,
            "SECRET_KEY_SSM_PARAMETER": "/meridian/prod/secret-key",
            "DATABASE_URL_SECRET_ID": "meridian/prod/database",
            "ALLOWED_HOSTS": "meridian.example.com",
            "SHARED_TABLES_PREFIX": "meridian-prod-",
        }
    )
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "d = s.DATABASES['default']; print(len(s.SECRET_KEY), d['HOST'], d['USER'], d['CONN_HEALTH_CHECKS'])"
    )
    # when production settings load in a fresh process
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    # then they hold the secrets read at start-up
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["64", RDS_SECRET["host"], "meridian_app", "True"]
    # and the deployment security checks are clean with them
    check = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--tag", "security", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stdout + check.stderr
