"""Fixtures for the shared-tables suites: a real moto server, both backends, schema checks."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from moto.server import ThreadedMotoServer

from portal.shared_tables import config, items
from positioning.schemas import SCHEMA_DIR, load_schema
from positioning.tables import SharedTables

FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


@dataclass
class MotoEndpoint:
    """A running moto server and how to reach it; `stop()`/`start()` simulate an outage."""

    server: ThreadedMotoServer
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Stop serving and close the socket, so that connections are refused (not left hanging)."""
        self.server.stop()
        if self.server._server is not None:
            self.server._server.server_close()

    def start(self) -> None:
        """Serve again on the same port; moto's state lives in the process, so no data is lost."""
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()


@pytest.fixture(autouse=True)
def every_built_item_is_schema_valid(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Validate every item the builders produce (all the publisher and reconcile ever write)."""
    violations: list[str] = []

    def validating(builder: items.ItemBuilder) -> items.ItemBuilder:
        if not (SCHEMA_DIR / f"{builder.table}.json").exists():
            return builder
        build = builder.build

        def build_and_check(keys: Any) -> dict[str, Any]:
            built = build(keys)
            for key, item in built.items():
                violations.extend(f"{builder.table} {key}: {e}" for e in schema_errors(builder.table, item))
            return built

        return replace(builder, build=build_and_check)

    monkeypatch.setattr(items, "_BUILDERS", {kind: validating(b) for kind, b in items._BUILDERS.items()})
    yield
    assert not violations, violations


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoEndpoint]:
    """A real moto server on 127.0.0.1 (a free port), for the whole session."""
    # One log line per request would drown every failure report.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    endpoint = MotoEndpoint(server, server.get_host_and_port()[1])
    yield endpoint
    endpoint.server.stop()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and a region, so nothing can reach a real AWS account."""
    for name, value in FAKE_AWS_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")


@pytest.fixture
def moto_env(moto_server: MotoEndpoint, aws_env: None, monkeypatch: pytest.MonkeyPatch) -> MotoEndpoint:
    """Point boto3's DynamoDB client at the moto server through AWS_ENDPOINT_URL_DYNAMODB."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", moto_server.url)
    return moto_server


def _prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}-"


@pytest.fixture
def local_tables(settings: Any, tmp_path: Path) -> Iterator[SharedTables]:
    """The embedded backend on a fresh SQLite file, selected by the settings."""
    settings.SHARED_TABLES_BACKEND = "local"
    settings.SHARED_TABLES_LOCAL_PATH = tmp_path / "shared_tables.sqlite3"
    settings.SHARED_TABLES_PREFIX = _prefix()
    config.forget()
    tables = config.shared_tables()
    yield tables
    config.forget()


@pytest.fixture
def dynamodb_tables(settings: Any, moto_env: MotoEndpoint) -> Iterator[SharedTables]:
    """The DynamoDB backend against the moto server, tables created under a fresh prefix."""
    settings.SHARED_TABLES_BACKEND = "dynamodb"
    settings.SHARED_TABLES_PREFIX = _prefix()
    config.forget()
    tables = config.shared_tables()
    tables.create_tables()
    yield tables
    config.forget()


@pytest.fixture(params=["local", "dynamodb"])
def tables(request: pytest.FixtureRequest) -> SharedTables:
    """Each backend in turn: the same contract must hold for both."""
    backend: SharedTables = request.getfixturevalue(f"{request.param}_tables")
    return backend


def schema_errors(table: str, item: dict[str, Any]) -> list[str]:
    """Return the JSON Schema violations of `item` as a `table` item (empty when valid)."""
    validator = Draft202012Validator(load_schema(table), format_checker=FormatChecker())
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(item)]


def assert_schema_valid(table: str, items: list[dict[str, Any]]) -> None:
    """Fail with every violation when any of `items` does not match `table`'s JSON Schema."""
    problems = {str(i): errors for i, item in enumerate(items) if (errors := schema_errors(table, item))}
    assert not problems, problems
