"""Production settings with single sign-on on: the client secret comes from SSM, like SECRET_KEY."""

from __future__ import annotations

import os
import subprocess
import sys
from secrets import token_urlsafe

import boto3
import pytest

from tests.deploy.conftest import fake_aws  # noqa: F401  (re-exported fixture)
from tests.deploy.test_secrets import moto_server  # noqa: F401  (re-exported fixture)
from tests.deploy.zappa_stages import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("fake_aws")]


def test_production_reads_the_oidc_client_secret_from_ssm(moto_server: str) -> None:  # noqa: F811
    # Given the Django secret key and the OIDC client secret as SSM SecureStrings (moto on loopback)
    ssm = boto3.client("ssm", endpoint_url=moto_server)
    ssm.put_parameter(Name="/meridian/prod/secret-key", Value=token_urlsafe(48), Type="SecureString")
    ssm.put_parameter(Name="/meridian/prod/oidc-client-secret", Value="s3cr3t-from-ssm", Type="SecureString")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("SECRET_KEY", "DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE")
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "portal.settings.production",
            "AWS_ENDPOINT_URL": moto_server,
            "SECRET_KEY_SSM_PARAMETER": "/meridian/prod/secret-key",
            "DATABASE_URL": "sqlite:///tmp/meridian-sso-settings.sqlite3",
            "ALLOWED_HOSTS": "meridian.example.com",
            "SHARED_TABLES_PREFIX": "meridian-prod-",
            "DEFAULT_FROM_EMAIL": "Meridian <notifications@meridian.example.com>",
            "NOTIFICATIONS_SITE_URL": "https://meridian.example.com",
            "OIDC_ENABLED": "1",
            "OIDC_OP_ISSUER": "https://acme.okta.com",
            "OIDC_RP_CLIENT_ID": "meridian",
            "OIDC_RP_CLIENT_SECRET_SSM_PARAMETER": "/meridian/prod/oidc-client-secret",
        }
    )
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.OIDC_RP_CLIENT_SECRET, 'accounts.sso.backends.SsoBackend' in s.AUTHENTICATION_BACKENDS)"
    )
    # When production settings load in a fresh process
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    # Then the secret was read at start-up and the SSO backend is on
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["s3cr3t-from-ssm", "True"]
    # And the deployment checks stay clean with single sign-on on
    check = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stdout + check.stderr
