"""Benchmark: from an editor's change to what the public APIs read (freshness), under load.

Run from the repository root: `make bench-freshness` or
`DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/freshness.py`
(options: `--writers 20 --seconds 60 --workers 3`).

It creates its own database `meridian_fresh`, loads the demo data, starts a moto server in its
own process as DynamoDB (tables created, the demo state published), and gunicorn (-w 3, local
settings, DEBUG=0) with the publisher as in production: after each commit in the background
(thread pool), plus the scheduled sweep every 60 s (`manage.py shared_tables publish`). Then
20 writer threads set positions through the REST API for 60 s; each answer's ETag is the version
committed. A reader polls the DynamoDB tables with BatchGetItem, as the public API's reader does,
until each (market, item) shows that version or a newer one.

It prints p50/p99 of commit → readable and how many changes were never published, with the goal
p99 ≤ 2 × p50 + 1 s and 0 lost, and a one-line summary `freshness p50 X s p99 Y s lost N`.
Traffic goes to 127.0.0.1 only; the database is dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.publish import free_port, start_moto  # noqa: E402
from bench.servers import database_url, manage, recreate_database, wait_until_up  # noqa: E402

DB = "meridian_fresh"
PYTHON = sys.executable
MARKETS = ["AU", "DE", "US", "GB", "FR", "JP"]
PREFIX = "bench-fresh-"
DRAIN_SECONDS = 90  # after the writers stop, how long a change may still take to appear

SETUP = """
import json
from accounts.models import User
from accounts.services import api_token_create
from content.models import ContentItem
editor = User.objects.get(username="editor")
token = api_token_create(actor=editor, user=editor, name="freshness bench")
items = list(ContentItem.objects.order_by("pk").values_list("upstream_id", flat=True)[:500])
print("SETUP=" + json.dumps({"token": token.secret, "items": items}))
"""


class Pending:
    """Committed changes waiting to be seen in the tables: (market, item) → (version, commit time)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.waiting: dict[tuple[str, str], tuple[int, float]] = {}
        self.delays: list[float] = []
        self.committed = 0


def writer(host: str, token: str, items: list[str], pending: Pending, stop: float, errors: list[str]) -> None:
    rng = random.Random()
    while time.monotonic() < stop:
        market, item = rng.choice(MARKETS), rng.choice(items)
        state = rng.choice(["hidden", "shown", "promoted"])
        body = {"state": state, "reason": "freshness"} | (
            {"boost": rng.randint(1, 5)} if state == "promoted" else {}
        )
        request = urllib.request.Request(
            f"{host}/api/v1/markets/{market}/positions/{item}/",
            data=json.dumps(body).encode(),
            method="PUT",
            headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (loopback only)
                etag = response.headers.get("ETag", "")
                committed_at = time.monotonic()
            version = int(etag.strip('"').rsplit("-", 1)[1])
            with pending.lock:
                pending.committed += 1
                known = pending.waiting.get((market, item))
                # A newer change of a position still waiting supersedes it: timed from the older
                # commit, so a slow publish is never hidden by a later write.
                if known is None or version > known[0]:
                    pending.waiting[(market, item)] = (version, committed_at if known is None else known[1])
        except Exception as exc:  # counted: a failed write is a bench error, not a freshness figure
            errors.append(f"{type(exc).__name__}: {exc}")


def reader(tables: object, pending: Pending, done: threading.Event) -> None:
    while not done.is_set():
        with pending.lock:
            keys = list(pending.waiting)[:100]
        if not keys:
            time.sleep(0.02)
            continue
        found = tables.batch_get([("positions", key) for key in keys])  # type: ignore[attr-defined]
        now = time.monotonic()
        with pending.lock:
            for key in keys:
                item = found.get(("positions", key))
                wanted = pending.waiting.get(key)
                if item is not None and wanted is not None and int(item["version"]) >= wanted[0]:
                    pending.delays.append(now - wanted[1])
                    del pending.waiting[key]
        time.sleep(0.02)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--workers", type=int, default=3)
    args = parser.parse_args()
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    if not base.startswith(("postgres://", "postgresql://")):
        raise SystemExit("bench/freshness.py needs a PostgreSQL DATABASE_URL (the server).")

    work = Path(tempfile.mkdtemp(prefix="meridian-fresh-"))
    moto_port = free_port()
    moto = start_moto(moto_port)
    aws = {
        "AWS_ENDPOINT_URL_DYNAMODB": f"http://127.0.0.1:{moto_port}",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL")},
        **aws,
        "DJANGO_SETTINGS_MODULE": "portal.settings.local",
        "DATABASE_URL": database_url(base, DB),
        "DEBUG": "0",
        "MERIDIAN_VAR_DIR": str(work),
        "LOG_LEVEL": "WARNING",
        "SHARED_TABLES_BACKEND": "dynamodb",
        "SHARED_TABLES_PREFIX": PREFIX,
        "TASKS_LOCAL_RUNNER": "thread",
    }
    os.environ.update(aws)
    gunicorn: subprocess.Popen[bytes] | None = None
    sweeper_stop = threading.Event()
    print(f"Creating {DB}, migrating, loading the demo data, publishing it to moto…", flush=True)
    recreate_database(base, DB)
    try:
        manage(env, "migrate", "--noinput")
        manage(env, "shared_tables", "create")
        manage(env, "demo_data")
        manage(env, "shared_tables", "publish")
        out = manage(env, "shell", "-c", SETUP)
        setup = json.loads(next(line for line in out.splitlines() if line.startswith("SETUP="))[6:])
        port = free_port()
        host = f"http://127.0.0.1:{port}"
        gunicorn = subprocess.Popen(
            [str(Path(PYTHON).parent / "gunicorn"), "portal.wsgi", "-w", str(args.workers)]
            + ["-b", f"127.0.0.1:{port}", "--log-level", "warning"],
            cwd=ROOT,
            env=env,
        )
        wait_until_up(f"{host}/healthcheck")

        def sweep() -> None:  # the scheduled event, every minute as on Lambda
            while not sweeper_stop.wait(60):
                manage(env, "shared_tables", "publish")

        threading.Thread(target=sweep, daemon=True).start()
        from positioning.backends import open_tables

        tables = open_tables("dynamodb", prefix=PREFIX)
        pending, errors, done = Pending(), [], threading.Event()
        poll = threading.Thread(target=reader, args=(tables, pending, done), daemon=True)
        poll.start()
        print(f"{args.writers} writers for {args.seconds} s against gunicorn -w {args.workers}…", flush=True)
        stop = time.monotonic() + args.seconds
        threads = [
            threading.Thread(
                target=writer, args=(host, setup["token"], setup["items"], pending, stop, errors)
            )
            for _ in range(args.writers)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        deadline = time.monotonic() + DRAIN_SECONDS
        while time.monotonic() < deadline:
            with pending.lock:
                if not pending.waiting:
                    break
            time.sleep(0.2)
        done.set()
        poll.join(timeout=10)
    finally:
        sweeper_stop.set()
        if gunicorn is not None:
            gunicorn.terminate()
            try:
                gunicorn.wait(timeout=15)
            except subprocess.TimeoutExpired:
                gunicorn.kill()
        moto.terminate()
        moto.wait(timeout=10)
        recreate_database(base, DB, drop_only=True)

    delays = sorted(pending.delays)
    lost = len(pending.waiting)
    if not delays:
        print(f"no change became readable; {len(errors)} write errors: {errors[:3]}")
        return 1
    p50 = statistics.median(delays)
    p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
    goal = 2 * p50 + 1
    print(f"\n{pending.committed} changes committed by {args.writers} writers, {len(errors)} write errors")
    print(f"commit → readable: p50 {p50:.2f} s, p99 {p99:.2f} s (goal p99 ≤ 2 × p50 + 1 s = {goal:.2f} s)")
    print(f"never published: {lost} (goal 0)")
    print(f"freshness p50 {p50:.2f} s p99 {p99:.2f} s lost {lost}")
    return 0 if (p99 <= goal and lost == 0 and not errors) else 1


if __name__ == "__main__":
    sys.exit(main())
