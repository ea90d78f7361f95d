"""Cold-start benchmark of the Lambda package: checked-hash bytecode against Zappa's default.

    make bench-coldstart STAGE=dev         # builds build/meridian-dev.zip first if missing
    .venv-deploy/bin/python bench/coldstart.py --zip build/meridian-dev.zip --runs 7

The package is unzipped as Lambda does it: every file gets its zip entry's date (Zappa writes
1980-01-01), the tree is read-only, and Python runs with `-B` and only the package on sys.path.
Each run is a fresh interpreter that times `import handler` with
INSTANTIATE_LAMBDA_HANDLER_ON_IMPORT=True, i.e. Zappa's handler import plus `django.setup()` and
the WSGI application, then answers one API Gateway `/healthcheck` event.

"Zappa's default bytecode" is the same tree with the .pyc files a default build ships: pip's
timestamp-based .pyc in site-packages (recording the build machine's source mtime, so stale
against the 1980 dates) and none for the project or the handler copied to the zip root.
Both variants run alternately in one invocation; the ratio of their medians is printed
(goal <= 0.35, measured with tracing off, as the dev stage runs), with the package's zipped and
unzipped sizes (goals <= 40 MB / <= 100 MB).

The cost of X-Ray tracing (TRACING_ENABLED=1, as staging and production run) is printed too: the
checked-hash package's cold start and its first traced request (`/healthcheck/deep`, one database
query, which imports and configures the X-Ray SDK), tracing on against tracing off. Outside Lambda
there is no segment to attach to, so this is the SDK's load and bookkeeping, not the daemon's UDP.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
GOAL_RATIO = 0.35
GOAL_ZIPPED_MB = 40
GOAL_UNZIPPED_MB = 100
PROJECT_PACKAGES = ("portal", "accounts", "markets", "content")

# Runs inside the fresh interpreter: argv[1] is the extracted package, argv[2] a JSON list of
# events answered in turn, argv[3] (optional) a JSON list of AWS services to create clients for.
PROBE = r"""
import json, os, sys, time
task = sys.argv[1]
sys.path.insert(0, task)
os.chdir(task)
started = time.perf_counter()
import handler
initialised = time.perf_counter()
responses = []
for event in json.loads(sys.argv[2]):
    before = time.perf_counter()
    response = handler.lambda_handler(event, None)
    response["elapsed_s"] = time.perf_counter() - before
    responses.append(response)
clients = []
if len(sys.argv) > 3:
    import boto3
    clients = [boto3.client(name).meta.service_model.service_name for name in json.loads(sys.argv[3])]
print("PROBE" + json.dumps({
    "init_s": initialised - started,
    "responses": responses,
    "clients": clients,
    "modules": len(sys.modules),
    "django_ready": "django.apps" in sys.modules and sys.modules["django.apps"].apps.ready,
    "task_on_path": [p for p in sys.path if p.startswith(task)],
}))
"""


def api_gateway_event(path: str, *, host: str, stage: str = "dev", method: str = "GET") -> dict[str, object]:
    """Return a REST API (v1) proxy event as API Gateway sends it to Lambda."""
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": {"Host": host, "X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "path": f"/{stage}{path}",
            "stage": stage,
            "requestId": "bench-request",
            "identity": {"sourceIp": "203.0.113.7", "userAgent": "Amazon-Route53-Health-Check-Service"},
        },
        "body": None,
        "isBase64Encoded": False,
    }


def lambda_environment(database: Path, *, region: str = "us-east-1") -> dict[str, str]:
    """Return a Lambda-like environment for production settings, with no real credentials."""
    keep = ("PATH", "LANG", "LC_ALL", "TZ", "SYSTEMROOT")
    env = {key: os.environ[key] for key in keep if key in os.environ}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "portal.settings.production",
            "INSTANTIATE_LAMBDA_HANDLER_ON_IMPORT": "True",
            "SECRET_KEY": "bench-" + secrets.token_urlsafe(48),
            "DATABASE_URL": f"sqlite:///{database}",
            "ALLOWED_HOSTS": "dev.meridian.example.com",
            "SHARED_TABLES_PREFIX": "meridian-bench-",
            "STATIC_URL": "https://static.meridian.example.com/",
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            # Fake credentials and no metadata lookups: nothing here may reach AWS.
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_LAMBDA_FUNCTION_NAME": "meridian-bench",
            "MERIDIAN_VAR_DIR": str(database.parent),
            "LOG_LEVEL": "WARNING",
        }
    )
    return env


def extract_like_lambda(package: Path, target: Path) -> Path:
    """Unzip `package` into `target` with each entry's zip date as its mtime; return `target`."""
    with zipfile.ZipFile(package) as archive:
        for info in archive.infolist():
            path = Path(archive.extract(info, target))
            stamp = time.mktime((*info.date_time, 0, 0, -1))
            os.utime(path, (stamp, stamp))
    return target


def make_read_only(tree: Path) -> None:
    for directory, _subdirs, files in os.walk(tree):
        for name in files:
            os.chmod(os.path.join(directory, name), 0o444)
        os.chmod(directory, 0o555)


def make_writable(tree: Path) -> None:
    for directory, _subdirs, files in os.walk(tree):
        os.chmod(directory, 0o755)
        for name in files:
            os.chmod(os.path.join(directory, name), 0o644)


@contextmanager
def lambda_task_dir(package: Path) -> Iterator[Path]:
    """Yield a read-only extraction of `package` in a temporary folder, removed afterwards."""
    scratch = Path(tempfile.mkdtemp(prefix="meridian-task-"))
    task = extract_like_lambda(package, scratch / "task")
    make_read_only(task)
    try:
        yield task
    finally:
        make_writable(scratch)
        shutil.rmtree(scratch, ignore_errors=True)


def as_default_zappa_bytecode(task: Path, *, build_mtime: int) -> None:
    """Turn the checked-hash .pyc of `task` into what a default Zappa build ships.

    site-packages: timestamp-based .pyc recording `build_mtime` (stale against the 1980 dates);
    project packages and the zip-root handler: no .pyc at all.
    """
    for pyc in task.rglob("*.pyc"):
        package_root = pyc.relative_to(task).parts[0]
        if package_root in PROJECT_PACKAGES or pyc.parent == task / "__pycache__":
            pyc.unlink()
            continue
        data = pyc.read_bytes()
        source = pyc.parent.parent / (pyc.name.split(".")[0] + ".py")
        size = source.stat().st_size if source.exists() else 0
        # Header: magic, flags (0 = timestamp-based), source mtime, source size; then the code.
        header = data[:4] + struct.pack("<III", 0, build_mtime & 0xFFFFFFFF, size & 0xFFFFFFFF)
        pyc.write_bytes(header + data[16:])


def probe(
    python: str,
    task: Path,
    events: list[dict[str, object]],
    env: dict[str, str],
    clients: list[str] | None = None,
) -> dict[str, Any]:
    """Run one cold start of the package in `task` in a fresh interpreter, answer `events`.

    `-I -S` keep the interpreter's own site-packages and the environment's PYTHON* variables
    out: the package alone provides every import, as on Lambda.
    """
    extra = [json.dumps(clients)] if clients else []
    result = subprocess.run(
        [python, "-B", "-I", "-S", "-c", PROBE, str(task), json.dumps(events), *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    for line in result.stdout.splitlines():
        if line.startswith("PROBE"):
            figures: dict[str, Any] = json.loads(line[len("PROBE") :])
            return figures
    raise RuntimeError(
        f"probe failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    )


def package_sizes(package: Path) -> tuple[float, float]:
    with zipfile.ZipFile(package) as archive:
        unzipped = sum(info.file_size for info in archive.infolist())
    return package.stat().st_size / 1e6, unzipped / 1e6


def find_python312() -> str:
    """Return a working Python 3.12 (a pyenv shim may exist without working): the deploy venv's first."""
    if sys.version_info[:2] == (3, 12):
        return sys.executable
    candidates = [str(ROOT / ".venv-deploy" / "bin" / "python"), shutil.which("python3.12")]
    candidates += sorted(str(p) for p in Path("/root/.pyenv/versions").glob("3.12.*/bin/python3.12"))
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            check = subprocess.run(
                [candidate, "-c", "import sys; sys.exit(sys.version_info[:2] != (3, 12))"],
                capture_output=True,
            )
            if check.returncode == 0:
                return candidate
    raise SystemExit("Python 3.12 is needed (the Lambda runtime): see docs/deploy.md.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--zip", type=Path, default=ROOT / "build" / "meridian-dev.zip")
    parser.add_argument("--runs", type=int, default=7, help="cold starts per variant (default 7)")
    args = parser.parse_args(argv)
    if not args.zip.exists():
        raise SystemExit(f"{args.zip} does not exist: run `make package STAGE=dev` first.")
    python = find_python312()
    event = api_gateway_event("/healthcheck", host="dev.meridian.example.com")
    scratch = Path(tempfile.mkdtemp(prefix="meridian-coldstart-"))
    try:
        checked = extract_like_lambda(args.zip, scratch / "checked-hash")
        default = extract_like_lambda(args.zip, scratch / "zappa-default")
        as_default_zappa_bytecode(default, build_mtime=int(time.time()))
        for tree in (checked, default):
            make_read_only(tree)
        env = lambda_environment(scratch / "bench.sqlite3")
        timings: dict[str, list[float]] = {"checked-hash": [], "zappa-default": []}
        requests: dict[str, list[float]] = {"checked-hash": [], "zappa-default": []}
        # Alternate the variants so that a noisy neighbour slows both alike.
        for _ in range(args.runs):
            for name, tree in (("checked-hash", checked), ("zappa-default", default)):
                figures = probe(python, tree, [event], env)
                response = figures["responses"][0]
                if response["statusCode"] != 200 or str(response.get("body")).strip() != "ok":
                    raise SystemExit(f"{name}: /healthcheck answered {response['statusCode']} {response!r}")
                timings[name].append(float(figures["init_s"]))
                requests[name].append(float(response["elapsed_s"]))
        # Tracing's cost on the fast variant: cold start, then the first request that is traced.
        deep = api_gateway_event("/healthcheck/deep", host="dev.meridian.example.com")
        tracing: dict[str, list[tuple[float, float]]] = {"off": [], "on": []}
        for _ in range(args.runs):
            for name, switch in (("off", "0"), ("on", "1")):
                figures = probe(python, checked, [event, deep], {**env, "TRACING_ENABLED": switch})
                statuses = [r["statusCode"] for r in figures["responses"]]
                if statuses != [200, 200]:
                    raise SystemExit(f"tracing {name}: answered {statuses}")
                tracing[name].append((float(figures["init_s"]), float(figures["responses"][1]["elapsed_s"])))
    finally:
        make_writable(scratch)
        shutil.rmtree(scratch, ignore_errors=True)
    fast, slow = statistics.median(timings["checked-hash"]), statistics.median(timings["zappa-default"])
    ratio = fast / slow
    zipped, unzipped = package_sizes(args.zip)

    def goal(met: bool, text: str) -> str:
        return f"({'meets' if met else 'MISSES'} goal {text})"

    shown = args.zip.relative_to(ROOT) if args.zip.is_relative_to(ROOT) else args.zip
    median_request = {name: statistics.median(values) * 1000 for name, values in requests.items()}
    print(f"package {shown}")
    print(f"cold start = handler import + Django setup, median of {args.runs}, python3.12 -B, read-only")
    print(
        f"  checked-hash bytecode  : {fast * 1000:7.0f} ms  (min {min(timings['checked-hash']) * 1000:.0f}; "
        f"first /healthcheck {median_request['checked-hash']:.1f} ms)"
    )
    print(
        f"  Zappa default bytecode : {slow * 1000:7.0f} ms  (min {min(timings['zappa-default']) * 1000:.0f}; "
        f"first /healthcheck {median_request['zappa-default']:.1f} ms)"
    )
    print(f"  ratio                  : {ratio:.2f}  {goal(ratio <= GOAL_RATIO, f'<= {GOAL_RATIO}')}")
    init_off = statistics.median(i for i, _ in tracing["off"]) * 1000
    init_on = statistics.median(i for i, _ in tracing["on"]) * 1000
    deep_off = statistics.median(d for _, d in tracing["off"]) * 1000
    deep_on = statistics.median(d for _, d in tracing["on"]) * 1000
    print("X-Ray tracing (checked-hash package), on vs off, medians:")
    init_cost = init_on - init_off
    print(f"  cold start             : {init_on:7.0f} ms vs {init_off:.0f} ms  ({init_cost:+.0f} ms)")
    print(
        f"  first traced request   : {deep_on:7.1f} ms vs {deep_off:.1f} ms  ({deep_on - deep_off:+.1f} ms, "
        "/healthcheck/deep: SDK import + one DB subsegment)"
    )
    print(
        f"  zipped                 : {zipped:.1f} MB  "
        f"{goal(zipped <= GOAL_ZIPPED_MB, f'<= {GOAL_ZIPPED_MB} MB')}"
    )
    print(
        f"  unzipped               : {unzipped:.1f} MB  "
        f"{goal(unzipped <= GOAL_UNZIPPED_MB, f'<= {GOAL_UNZIPPED_MB} MB')}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
