"""Open the shared tables: the factory that picks an implementation of `positioning.tables`.

Kept apart from the interface so that neither implementation module imports the other, nor the
interface any implementation (no import cycle). boto3 loads only when DynamoDB is chosen.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from positioning.tables import SharedTables


def open_tables(
    backend: str,
    *,
    prefix: str,
    local_path: str | os.PathLike[str] | None = None,
    threads: int = 8,
    max_attempts: int = 4,
    connect_timeout: float = 2.0,
    read_timeout: float = 5.0,
) -> SharedTables:
    """Return the `backend` ("local" or "dynamodb") implementation; ValueError on anything else."""
    if backend == "local":
        from positioning.local import LocalTables

        if local_path is None:
            raise ValueError("The local shared-tables backend needs a file path.")
        return LocalTables(local_path, prefix=prefix)
    if backend == "dynamodb":
        from positioning.dynamodb import DynamoTables

        return DynamoTables(
            prefix=prefix,
            threads=threads,
            max_attempts=max_attempts,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )
    raise ValueError(f"Unknown shared-tables backend {backend!r}: use 'local' or 'dynamodb'.")


def tables_from_env(environ: Mapping[str, str] | None = None) -> SharedTables:
    """Open the tables named by the environment, for code that runs without Django settings.

    SHARED_TABLES_BACKEND ("dynamodb" by default here: this is for the public API's Lambda),
    SHARED_TABLES_PREFIX and, for "local", SHARED_TABLES_LOCAL_PATH. DynamoDB's endpoint,
    region and credentials come from boto3's usual environment (AWS_ENDPOINT_URL_DYNAMODB, ...).
    """
    env = os.environ if environ is None else environ
    return open_tables(
        env.get("SHARED_TABLES_BACKEND", "dynamodb"),
        prefix=env.get("SHARED_TABLES_PREFIX", ""),
        local_path=env.get("SHARED_TABLES_LOCAL_PATH"),
        threads=int(env.get("SHARED_TABLES_THREADS", "8")),
    )
