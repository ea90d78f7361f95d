"""X-Ray's real SDK, recording into memory instead of the daemon's UDP port."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.handlers
import pytest

from portal.observability import tracing
from tests.labels.conftest import new_image, png  # noqa: F401 (fixtures for the labelling job's log)

FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": "/nonexistent",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
}


class MemoryEmitter:
    """An X-Ray emitter (send_entity / set_daemon_address) that keeps what would go to the daemon."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send_entity(self, entity: Any) -> None:
        self.sent.append(json.loads(entity.serialize()))

    def set_daemon_address(self, address: str | None) -> None:
        pass

    @property
    def ip(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        return 2000


@dataclass
class Trace:
    emitter: MemoryEmitter
    segment: dict[str, Any] = field(default_factory=dict)
    finished: bool = False

    def finish(self) -> Trace:
        """End the test's segment and keep what the SDK sent for it."""
        if not self.finished:
            tracing.recorder().end_segment()
            self.finished = True
            segments = [e for e in self.emitter.sent if e.get("name") == "meridian-test"]
            self.segment = segments[-1] if segments else {}
        return self

    def subsegments(self, name: str | None = None) -> list[dict[str, Any]]:
        """Every subsegment of the finished segment, depth first, optionally by name."""
        found: list[dict[str, Any]] = []

        def walk(entity: dict[str, Any]) -> None:
            for sub in entity.get("subsegments", []):
                found.append(sub)
                walk(sub)

        walk(self.segment)
        return [s for s in found if name is None or s["name"] == name]


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in FAKE_AWS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


@pytest.fixture
def xray(settings: Any, aws_env: None) -> Iterator[Trace]:
    """Tracing on, botocore's handlers installed, one open segment; yields the finished trace."""
    settings.TRACING_ENABLED = True
    tracing.install_botocore_tracing()
    # boto3's default session predates the handlers: the next boto3.client() builds a new one.
    boto3.DEFAULT_SESSION = None
    emitter = MemoryEmitter()
    recorder = tracing.recorder()
    recorder.configure(emitter=emitter, sampling=False, streaming_threshold=10_000)
    trace = Trace(emitter)
    recorder.begin_segment("meridian-test")
    try:
        yield trace
    finally:
        trace.finish()
        for spec in tracing._HANDLERS:
            while spec in botocore.handlers.BUILTIN_HANDLERS:
                botocore.handlers.BUILTIN_HANDLERS.remove(spec)
        boto3.DEFAULT_SESSION = None
