"""The real Lambda package: `make package STAGE=dev` builds it offline, and it serves on its own."""

from __future__ import annotations

import re
import struct
import subprocess
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.coldstart import (
    api_gateway_event,
    find_python312,
    lambda_environment,
    lambda_task_dir,
    probe,
)
from tests.deploy.zappa_stages import ROOT, deploy_package_module

PACKAGE = ROOT / "build" / "meridian-dev.zip"
HOST = "dev.meridian.example.com"
EXECUTE_API = "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(480)]


@pytest.fixture(scope="module")
def package() -> Path:
    # given the package built exactly as a person or the pipeline builds it
    result = subprocess.run(
        ["make", "package", "STAGE=dev"], cwd=ROOT, capture_output=True, text=True, timeout=420
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert PACKAGE.exists()
    return PACKAGE


@pytest.fixture(scope="module")
def served(package: Path) -> Iterator[dict[str, Any]]:
    """Answer a few events from the extracted zip alone, in a fresh python3.12 -B -I -S."""
    events = [
        api_gateway_event("/healthcheck", host=HOST),
        api_gateway_event("/healthcheck", host=EXECUTE_API),
        api_gateway_event("/dev/healthcheck", host=EXECUTE_API),
        api_gateway_event("/healthcheck/deep", host=HOST),
        api_gateway_event("/accounts/login/", host=HOST),
        # what `zappa manage dev "..."` sends: the deployment checks must pass on the package
        {"manage": "check --deploy --tag security --tag staticfiles --fail-level WARNING"},
    ]
    services = sorted(deploy_package_module().BOTOCORE_SERVICES)
    with (
        tempfile.TemporaryDirectory(prefix="meridian-package-db-") as scratch,
        lambda_task_dir(package) as task,
    ):
        env = lambda_environment(Path(scratch) / "lambda.sqlite3")
        yield probe(find_python312(), task, events, env, clients=services)


def test_healthcheck_is_served_from_the_extracted_zip_alone(served: dict[str, Any]) -> None:
    custom, execute_api, prefixed, deep = served["responses"][:4]
    for response in (custom, execute_api, prefixed, deep):
        assert (response["statusCode"], response["body"].strip()) == (200, "ok"), response
    # and only the package was importable
    assert served["task_on_path"] and served["django_ready"] is True


def test_the_login_page_renders_with_static_urls_from_the_packaged_manifest(served: dict[str, Any]) -> None:
    login = served["responses"][4]
    assert login["statusCode"] == 200, login
    assert 'name="password"' in login["body"]
    # {% static %} gives absolute, hashed URLs without S3 (the manifest ships in the zip)
    assert re.search(r"https://static\.meridian\.example\.com/css/meridian\.[0-9a-f]{12}\.css", login["body"])


def test_management_commands_run_on_the_package(served: dict[str, Any]) -> None:
    # Zappa answers {} once the command returned; a failed check would have raised.
    assert served["responses"][5] == {"elapsed_s": served["responses"][5]["elapsed_s"]}


def test_the_package_keeps_the_aws_models_the_code_uses(served: dict[str, Any]) -> None:
    assert sorted(served["clients"]) == sorted(deploy_package_module().BOTOCORE_SERVICES)


def _pyc_flags(archive: zipfile.ZipFile, name: str) -> int:
    flags: int = struct.unpack("<I", archive.read(name)[4:8])[0]
    return flags


def test_the_zip_holds_checked_hash_bytecode_and_nothing_it_should_not(package: Path) -> None:
    with zipfile.ZipFile(package) as archive:
        names = set(archive.namelist())
        infos = archive.infolist()
        # Zappa dates every copied file 1980 (it adds only its generated settings and empty
        # __init__.py files with today's date): only hash-based .pyc stay valid on Lambda
        generated = {"zappa_settings.py", "django_zappa_app.py"}
        assert {i.date_time[0] for i in infos if i.file_size and i.filename not in generated} == {1980}
        checked_hash = 0b11
        for pyc in (
            "django/__pycache__/__init__.cpython-312.pyc",
            "django/db/models/__pycache__/base.cpython-312.pyc",
            "portal/__pycache__/health.cpython-312.pyc",
            "portal/settings/__pycache__/production.cpython-312.pyc",
            "__pycache__/handler.cpython-312.pyc",
        ):
            assert _pyc_flags(archive, pyc) == checked_hash, pyc
        # what Django needs is there, and the generated Zappa settings turn debug off
        assert "django/contrib/staticfiles/__init__.py" in names
        assert "build/static-manifest/staticfiles.json" in names
        assert "DEBUG=False" in archive.read("zappa_settings.py").decode()
        # what Lambda never needs is not
        tops = {name.split("/")[0] for name in names}
        assert not tops & {"tests", "docs", "bench", "deploy", "var", ".venv", ".git", "pip", "setuptools"}
        assert not [name for name in names if "/static/" in f"/{name}"]
        assert not [name for name in names if name.endswith((".po", ".sqlite3"))]
        unzipped = sum(info.file_size for info in infos)
    # and the sizes meet the goals (Lambda's limits: 50 MB zipped upload, 250 MB unzipped); the
    # zipped budget grew from 40 to 45 MB with single sign-on, whose ID-token checks need
    # cryptography (5 MB zipped), loaded only when SSO is on (docs/benchmarks.md)
    assert package.stat().st_size <= 45e6
    assert unzipped <= 125e6  # was 100 MB; cryptography and the SSO and tracing libraries add ~20 MB
