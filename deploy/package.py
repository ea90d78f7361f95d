"""Build the Lambda package for one stage, offline: `make package STAGE=dev` runs this.

Run with the deploy venv's Python (the runtime's minor version, 3.12). Steps:
1. `collectstatic` into build/static with the production manifest storage, so the package ships
   build/static-manifest/staticfiles.json (hashed names) and Lambda never reads S3 for `{% static %}`;
2. byte-compile site-packages and the project with checked-hash invalidation: Zappa writes every
   zip entry dated 1980, which makes the usual timestamp-based .pyc stale on Lambda, and Lambda's
   read-only /var/task means they are recompiled on every cold start;
3. `zappa package STAGE -o build/meridian-STAGE.zip`, then print the zipped and unzipped sizes.

No AWS credentials and no network are needed (`use_precompiled_packages` is false).
"""

from __future__ import annotations

import argparse
import os
import py_compile
import subprocess
import sys
import sysconfig
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
# Top-level folders that are not part of the deployed application.
NOT_APPLICATION = {"tests", "bench", "deploy", "docs", "build", "var", "static", "templates"}
# Goals from the issue; Lambda's hard limits are 50 MB zipped (direct upload) / 250 MB unzipped.
GOAL_ZIPPED_MB = 40
GOAL_UNZIPPED_MB = 100
# botocore ships ~450 service models (~21 MB unzipped, already gzip-compressed). Lambda needs only
# the clients Meridian and Zappa's handler create; tests/deploy checks every client the code
# creates is listed here. The deploy venv keeps them all: `zappa deploy/update` needs many more.
BOTOCORE_SERVICES = frozenset(
    {
        "apigateway",  # usage plans and API keys (accounts/gateway)
        "dynamodb",  # shared admin tables (portal/shared_tables)
        "lambda",  # Zappa async tasks invoke the function itself (zappa.asynchronous)
        "logs",  # API Gateway access logs via Logs Insights (accounts/partners/gateway/logs_insights.py)
        "rekognition",  # image labels (content/labelling)
        "s3",  # media storage (django-storages) and Zappa's handler
        "secretsmanager",  # portal/secrets.py
        "sesv2",  # notification email through Anymail's Amazon SES backend (docs/notifications.md)
        "sns",  # created when zappa.asynchronous is imported
        "sqs",  # the on-failure queue of asynchronous invocations (portal/observability)
        "ssm",  # portal/secrets.py
        "sts",  # created when zappa.asynchronous is imported
    }
)


def stage_config(stage: str) -> dict[str, object]:
    """Return the stage's settings as Zappa resolves them (`extends` applied), without credentials."""
    from zappa.cli import ZappaCLI

    cli = ZappaCLI()
    cli.api_stage = stage
    cli.load_credentials = False
    cli.load_settings_file(str(ROOT / "zappa_settings.json"))
    if stage not in cli.zappa_settings:
        raise SystemExit(f"Unknown stage {stage!r}: choose one of {sorted(cli.zappa_settings)}.")
    return dict(cli.stage_config)


def check_interpreter(config: dict[str, object]) -> None:
    runtime = str(config.get("runtime", ""))
    here = f"python{sys.version_info.major}.{sys.version_info.minor}"
    if runtime != here:
        raise SystemExit(
            f"This stage runs on {runtime} but the build uses {here}: build with a {runtime} venv "
            "(make package creates .venv-deploy with DEPLOY_PYTHON; see docs/deploy.md)."
        )


def application_packages() -> list[Path]:
    return sorted(
        path
        for path in ROOT.iterdir()
        if path.is_dir()
        and not path.name.startswith(".")
        and path.name not in NOT_APPLICATION
        and (path / "__init__.py").exists()
    )


def collect_static(config: dict[str, object]) -> Path:
    """Run collectstatic locally with the production manifest storage; return the manifest path."""
    aws_env = config.get("aws_environment_variables") or {}
    assert isinstance(aws_env, dict)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.endswith(("_SSM_PARAMETER", "_SECRET_ID")) and key != "DATABASE_URL"
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "portal.settings.production",
            # Placeholders: collectstatic touches neither the database nor anything secret.
            "SECRET_KEY": "collectstatic-only-" + "x" * 50,
            "DATABASE_URL": "sqlite:///:memory:",
            "ALLOWED_HOSTS": "localhost",
            "SHARED_TABLES_PREFIX": "build-",
            "STATIC_URL": str(aws_env.get("STATIC_URL", "/static/")),
            "STATIC_BUILD_DIR": str(BUILD / "static"),
            "STATIC_MANIFEST_DIR": str(BUILD / "static-manifest"),
        }
    )
    env.pop("STATICFILES_UPLOAD", None)
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--clear", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    manifest = BUILD / "static-manifest" / "staticfiles.json"
    if not manifest.exists():
        raise SystemExit("collectstatic wrote no manifest: check STORAGES in portal/settings/production.py")
    return manifest


def compile_bytecode() -> None:
    """Byte-compile site-packages and the project with checked-hash .pyc files."""
    site_packages = sysconfig.get_paths()["purelib"]
    targets = [site_packages, *[str(path) for path in application_packages()]]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "compileall",
            "-q",
            "-f",
            "-j",
            "0",
            "--invalidation-mode",
            "checked-hash",
            *targets,
        ],
        cwd=ROOT,
    )
    if result.returncode != 0:
        raise SystemExit("compileall failed: a module in the deploy venv or the project does not compile.")
    # Zappa copies these two into the zip root without their bytecode; a checked-hash .pyc in the
    # root __pycache__ matches the copies because it records the source's hash, not its path.
    import zappa

    zappa_dir = Path(zappa.__file__).parent
    tag = sys.implementation.cache_tag
    for source, module in (
        (zappa_dir / "handler.py", "handler"),
        (zappa_dir / "ext" / "django_zappa.py", "django_zappa_app"),
    ):
        py_compile.compile(
            str(source),
            cfile=str(ROOT / "__pycache__" / f"{module}.{tag}.pyc"),
            doraise=True,
            invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH,
        )


def zappa_package(stage: str, output: Path) -> None:
    zappa = Path(sys.executable).with_name("zappa")
    env = {**os.environ, "VIRTUAL_ENV": sys.prefix}
    # Zappa packages the venv named by VIRTUAL_ENV: make sure it is this one, not the dev venv.
    env.pop("PYTHONPATH", None)
    output.unlink(missing_ok=True)
    subprocess.run(
        [str(zappa), "package", stage, "-o", str(output.relative_to(ROOT)), "--disable_progress"],
        cwd=ROOT,
        env=env,
        check=True,
    )


def slim_botocore(path: Path, keep: frozenset[str] = BOTOCORE_SERVICES) -> int:
    """Drop the botocore service models not in `keep` from the zip; return the bytes saved.

    Entries are copied with their ZipInfo (dates, modes) unchanged, as Zappa wrote them.
    """
    slim = path.with_suffix(".slim.zip")
    saved = 0
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(slim, "w") as target:
        for info in source.infolist():
            parts = info.filename.split("/")
            if parts[:2] == ["botocore", "data"] and len(parts) > 3 and parts[2] not in keep:
                saved += info.file_size
                continue
            target.writestr(info, source.read(info), compress_type=info.compress_type)
    slim.replace(path)
    return saved


def sizes(path: Path) -> tuple[float, float]:
    with zipfile.ZipFile(path) as archive:
        unzipped = sum(info.file_size for info in archive.infolist())
    return path.stat().st_size / 1e6, unzipped / 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("stage")
    parser.add_argument("--output", type=Path, help="default: build/meridian-STAGE.zip")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    config = stage_config(args.stage)
    check_interpreter(config)
    BUILD.mkdir(exist_ok=True)
    collect_static(config)
    compile_bytecode()
    output = (args.output or BUILD / f"meridian-{args.stage}.zip").resolve()
    zappa_package(args.stage, output)
    saved = slim_botocore(output)
    zipped, unzipped = sizes(output)
    elapsed = time.perf_counter() - started
    # A build tool's report, not logging: stdout is what `make package` shows.
    sys.stdout.write(
        f"dropped {saved / 1e6:.1f} MB of botocore service models not used on Lambda\n"
        f"{output.relative_to(ROOT)}: {zipped:.1f} MB zipped (goal <= {GOAL_ZIPPED_MB}), "
        f"{unzipped:.1f} MB unzipped (goal <= {GOAL_UNZIPPED_MB}); built in {elapsed:.0f}s\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
