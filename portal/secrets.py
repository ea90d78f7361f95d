"""Secrets for production settings: from the environment, SSM Parameter Store or Secrets Manager.

On Lambda, `environment_variables` are baked into the zip and `aws_environment_variables` are
readable by anyone with `lambda:GetFunctionConfiguration`, so neither holds a secret. A setting
NAME is read, in this order, from:

1. `NAME` itself (a laptop, CI, `manage.py check --deploy`);
2. `NAME_SSM_PARAMETER`: the name of an SSM parameter (SecureString, decrypted);
3. `NAME_SECRET_ID`: the id or ARN of a Secrets Manager secret. For `DATABASE_URL` the secret may
   be an RDS-managed JSON secret (engine, host, port, username, password, dbname): it is turned
   into a URL so that RDS password rotation needs no change here.

Values are fetched once per process, at start-up (in Lambda's INIT phase when
`INSTANTIATE_LAMBDA_HANDLER_ON_IMPORT` is set), and cached; several SSM parameters are read with
one `GetParameters` call. boto3 is imported only when a secret really has to be fetched, so a
process configured from the environment never loads it.

This module and `portal/settings/` are the only portal code that reads `os.environ`: which
variable holds a secret is decided per name at start-up, which a parsed setting cannot express
(tests/portal/test_settings_declared.py keeps it that way).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

SSM_SUFFIX = "_SSM_PARAMETER"
SECRET_ID_SUFFIX = "_SECRET_ID"
# GetParameters takes at most 10 names per call.
SSM_BATCH = 10

_cache: dict[str, str] = {}
_lock = threading.Lock()
_clients: dict[str, Any] = {}


class SecretUnavailable(RuntimeError):
    """A required secret is not configured or could not be read."""


def secret(name: str, *, environ: Mapping[str, str] | None = None) -> str:
    """Return the secret `name` from the environment, SSM or Secrets Manager (cached per process).

    Raises SecretUnavailable when none of `name`, `name_SSM_PARAMETER` or `name_SECRET_ID` is
    set, or when AWS cannot return the value.
    """
    env = os.environ if environ is None else environ
    direct = env.get(name)
    if direct:
        return direct
    with _lock:
        if name in _cache:
            return _cache[name]
        parameter = env.get(name + SSM_SUFFIX)
        secret_id = env.get(name + SECRET_ID_SUFFIX)
        if parameter:
            value = _ssm_values([parameter])[parameter]
        elif secret_id:
            value = _secrets_manager_value(secret_id)
            if name == "DATABASE_URL":
                value = database_url_from_secret(value)
        else:
            raise SecretUnavailable(
                f"The environment variable {name} is required in production "
                f"(or {name}{SSM_SUFFIX} / {name}{SECRET_ID_SUFFIX} naming where to read it)."
            )
        _cache[name] = value
        return value


def preload(names: Iterable[str], *, environ: Mapping[str, str] | None = None) -> None:
    """Fetch the SSM-backed secrets among `names` in as few GetParameters calls as possible.

    Raises SecretUnavailable when a named parameter does not exist or cannot be read.
    """
    env = os.environ if environ is None else environ
    wanted = {
        name: env[name + SSM_SUFFIX]
        for name in names
        if not env.get(name) and env.get(name + SSM_SUFFIX) and name not in _cache
    }
    if not wanted:
        return
    values = _ssm_values(list(wanted.values()))
    with _lock:
        for name, parameter in wanted.items():
            _cache.setdefault(name, values[parameter])


def forget() -> None:
    """Drop every cached secret and client (tests; a rotated secret on the next cold start)."""
    with _lock:
        _cache.clear()
        _clients.clear()


def database_url_from_secret(value: str) -> str:
    """Return a database URL from a secret that is either a URL or an RDS-managed JSON secret.

    Raises SecretUnavailable when a JSON secret lacks host, username or password.
    """
    text = value.strip()
    if not text.startswith("{"):
        return text
    try:
        data = json.loads(text)
        host, user, password = data["host"], data["username"], data["password"]
    except (ValueError, KeyError) as exc:
        raise SecretUnavailable("The database secret is JSON but lacks host, username or password.") from exc
    engine = str(data.get("engine", "postgres"))
    scheme = "postgres" if engine.startswith(("postgres", "aurora-postgresql")) else engine
    port = data.get("port", 5432)
    dbname = data.get("dbname", data.get("dbInstanceIdentifier", "meridian"))
    return f"{scheme}://{quote(str(user), safe='')}:{quote(str(password), safe='')}@{host}:{port}/{dbname}"


def _client(service: str) -> Any:
    # Lazy: importing boto3 costs ~135 ms of cold start, and most processes never get here.
    if service not in _clients:
        import boto3
        from botocore.config import Config

        config = Config(
            connect_timeout=2,
            read_timeout=5,
            retries={"mode": "standard", "max_attempts": 3},
        )
        _clients[service] = boto3.session.Session().client(service, config=config)
    return _clients[service]


def _ssm_values(parameters: list[str]) -> dict[str, str]:
    from botocore.exceptions import BotoCoreError, ClientError

    values: dict[str, str] = {}
    unique = list(dict.fromkeys(parameters))
    for start in range(0, len(unique), SSM_BATCH):
        batch = unique[start : start + SSM_BATCH]
        try:
            response = _client("ssm").get_parameters(Names=batch, WithDecryption=True)
        except (BotoCoreError, ClientError) as exc:
            raise SecretUnavailable(f"SSM GetParameters failed for {batch}: {exc}") from exc
        if response.get("InvalidParameters"):
            raise SecretUnavailable(f"SSM parameters not found: {sorted(response['InvalidParameters'])}")
        for parameter in response["Parameters"]:
            values[parameter["Name"]] = parameter["Value"]
    missing = [name for name in unique if name not in values]
    if missing:
        raise SecretUnavailable(f"SSM parameters not returned: {missing}")
    return values


def _secrets_manager_value(secret_id: str) -> str:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        response = _client("secretsmanager").get_secret_value(SecretId=secret_id)
    except (BotoCoreError, ClientError) as exc:
        raise SecretUnavailable(f"Secrets Manager could not return {secret_id!r}: {exc}") from exc
    if "SecretString" not in response:
        raise SecretUnavailable(f"The secret {secret_id!r} is binary; Meridian expects a string.")
    return str(response["SecretString"])
