"""Load test: 50 concurrent users for 60 s against gunicorn + PostgreSQL on loopback (locust).

Run from the repository root: `make bench-load` or
`DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/load.py`
(options: `--users 50 --seconds 60 --workers 3 --keep-db`).

It creates its own database `meridian_load` on that server, migrates it, loads the demo data,
creates a bench usage plan with high limits (the demo plan's 50 requests/s would answer 429 to
the feed under this load), a partner key on it and an editor API token, then starts
`gunicorn portal.wsgi -w 3` on a free loopback port (local settings with DEBUG=0) and runs locust
headless with a mix of users:

  board readers  log in with the session and read the dashboard, the board and item pages;
  API writers    set positions through the REST API with an API token;
  feed readers   read a market's feed with the partner key.

Users arrive over a ramp (`--spawn-rate`, 5 per second: 10 s for 50 users), as a newsroom's
editors do, and the figures count only the steady state after it (locust's `--reset-stats`): each
board reader logs in once when it arrives, and a login is a deliberate ~0.5 s of CPU (Django's
PBKDF2), so 20 logins in the same second would occupy gunicorn's 3 sync workers for seconds and
every request queued behind them, which measures the ramp, not the writes.

It prints requests/s, p50/p99 latency per kind and the error count (429s are counted apart),
stops gunicorn and drops the database. Traffic goes to 127.0.0.1 only. When locust imports this
file (`locust -f bench/load.py`, which the script does itself), only the user classes below load.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOAD_DB = "meridian_load"
PYTHON = sys.executable
MARKETS = ["AU", "DE", "US", "GB", "FR", "JP"]
WRITE_READ_GOAL = 1.5

if __name__ != "__main__":
    # Imported by locust: the users. The settings come from the environment the script sets.
    from locust import HttpUser, between, task

    _SETUP = json.loads(os.environ.get("MERIDIAN_LOAD_SETUP", "{}"))

    class BoardReader(HttpUser):  # type: ignore[misc]
        """An editor in the browser: dashboard, board (browse and search) and item pages."""

        weight = 2
        wait_time = between(0.2, 1.0)

        def on_start(self) -> None:
            self.client.get("/accounts/login/", name="board: login page")
            token = self.client.cookies.get("csrftoken", "")
            self.client.post(
                "/accounts/login/",
                {"username": "editor", "password": "meridian-demo", "csrfmiddlewaretoken": token},
                headers={"Referer": f"{self.host}/accounts/login/"},
                name="board: login",
            )

        @task(2)
        def board(self) -> None:
            self.client.get("/content/", name="board: /content/")

        @task(2)
        def search(self) -> None:
            word = random.choice(["ocean", "wolves", "glacier", "reef", "desert"])
            self.client.get(f"/content/?q={word}", name="board: /content/?q=")

        @task(1)
        def item(self) -> None:
            upstream_id = random.choice(_SETUP["items"])
            self.client.get(f"/content/items/{upstream_id}/", name="board: item page")

        @task(1)
        def dashboard(self) -> None:
            self.client.get("/", name="board: dashboard")

    class ApiWriter(HttpUser):  # type: ignore[misc]
        """The campaign script: sets positions through the REST API with an API token."""

        weight = 2
        wait_time = between(0.2, 1.0)

        @task
        def set_position(self) -> None:
            market = random.choice(_SETUP["markets"])
            upstream_id = random.choice(_SETUP["items"])
            state = random.choice(["hidden", "shown", "promoted"])
            body = {"state": state, "reason": "load test"}
            if state == "promoted":
                body["boost"] = random.randint(1, 5)
            self.client.put(
                f"/api/v1/markets/{market}/positions/{upstream_id}/",
                json=body,
                headers={"Authorization": f"Token {_SETUP['token']}"},
                name="api: PUT position",
            )

    class FeedReader(HttpUser):  # type: ignore[misc]
        """A partner app reading a market's feed with its API key."""

        weight = 1
        wait_time = between(0.1, 0.5)

        @task
        def feed(self) -> None:
            market = random.choice(_SETUP["markets"])
            with self.client.get(
                f"/feed/v1/{market}?limit=20",
                headers={"x-api-key": _SETUP["partner_key"]},
                name="feed: GET",
                catch_response=True,
            ) as response:
                # A throttled answer is the plan working, not a server error: counted apart.
                if response.status_code == 429:
                    response.success()
                    self.environment.events.request.fire(
                        request_type="THROTTLED",
                        name="feed: 429",
                        response_time=response.elapsed.total_seconds() * 1000,
                        response_length=0,
                        exception=None,
                        context={},
                    )


SETUP_SCRIPT = """
import json
from accounts.models import User
from accounts.partners.models import Partner
from accounts.partners.services import PlanInput, key_issue, plan_create
from accounts.services import api_token_create
from content.models import ContentItem
from markets.models import Market

admin = User.objects.get(username="admin")
editor = User.objects.get(username="editor")
bench_plan = PlanInput(name="Load bench", rate_limit=10000, burst_limit=5000, api_stages=["meridian:local"])
plan = plan_create(actor=admin, data=bench_plan)
partner = Partner.objects.order_by("pk").first()
key = key_issue(actor=admin, partner=partner, plan=plan, name="load bench")
token = api_token_create(actor=editor, user=editor, name="load bench")
markets = list(Market.objects.filter(code__in=%r).values_list("code", flat=True))
items = list(ContentItem.objects.order_by("pk").values_list("upstream_id", flat=True)[:300])
setup = {"partner_key": key.secret, "token": token.secret, "markets": markets, "items": items}
print("SETUP=" + json.dumps(setup))
"""


def _report(prefix: Path, seconds: int, users: int) -> int:
    """Print the per-kind table from locust's CSV stats; return the error count."""
    with open(f"{prefix}_stats.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    throttled = sum(int(r["Request Count"]) for r in rows if r["Type"] == "THROTTLED")
    kinds = [r for r in rows if r["Name"] != "Aggregated" and r["Type"] != "THROTTLED"]
    total = next(r for r in rows if r["Name"] == "Aggregated")
    errors = sum(int(r["Failure Count"]) for r in kinds)
    requests = sum(int(r["Request Count"]) for r in kinds)
    print(f"\n{users} users, {seconds} s after the ramp, gunicorn -w 3 on 127.0.0.1, PostgreSQL\n")
    print(f"{'kind':<28}{'requests':>10}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for row in sorted(kinds, key=lambda r: r["Name"]):
        print(
            f"{row['Name']:<28}{row['Request Count']:>10}{float(row['Requests/s']):>9.1f}"
            f"{row['50%']:>9}{row['99%']:>9}{row['Failure Count']:>8}"
        )
    print(f"{'all':<28}{requests:>10}{requests / seconds:>9.1f}{total['50%']:>9}{total['99%']:>9}{errors:>8}")
    print(f"\nerrors: {errors}   feed 429 (throttled, counted apart): {throttled}")
    # Writers must not queue behind each other or behind publishing: the goal is the position
    # writes' p99 within 1.5 × the board's p99 (the editors' reads) measured in the same run.
    writes = [r for r in kinds if r["Name"].startswith("api: PUT")]
    reads = [r for r in kinds if r["Name"] == "board: /content/"]
    if writes and reads:
        write_p99 = max(float(r["99%"]) for r in writes)
        read_p99 = max(float(r["99%"]) for r in reads)
        ratio = write_p99 / read_p99 if read_p99 else float("inf")
        figures = f"{write_p99:.0f} ms / {read_p99:.0f} ms; goal ≤ {WRITE_READ_GOAL:g}"
        print(f"write p99 / read p99 = {ratio:.2f} ({figures})")
    failures = Path(f"{prefix}_failures.csv")
    if errors and failures.exists():
        print("\nfailures:\n" + failures.read_text())
    return errors


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from bench.publish import free_port
    from bench.servers import database_url, manage, recreate_database, wait_until_up

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--spawn-rate", type=float, default=5.0, help="users arriving per second")
    parser.add_argument("--keep-db", action="store_true", help="do not drop meridian_load at the end")
    args = parser.parse_args()
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    if not base.startswith(("postgres://", "postgresql://")):
        raise SystemExit(
            "bench/load.py needs a PostgreSQL DATABASE_URL (the server; it creates meridian_load)."
        )

    work = Path(tempfile.mkdtemp(prefix="meridian-load-"))
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL")},
        "DJANGO_SETTINGS_MODULE": "portal.settings.local",
        "DATABASE_URL": database_url(base, LOAD_DB),
        "DEBUG": "0",
        "MERIDIAN_VAR_DIR": str(work),
        "LOG_LEVEL": "WARNING",
    }
    print(f"Creating {LOAD_DB}, migrating and loading the demo data…", flush=True)
    recreate_database(base, LOAD_DB)
    gunicorn: subprocess.Popen[bytes] | None = None
    try:
        manage(env, "migrate", "--noinput")
        manage(env, "demo_data")
        out = manage(env, "shell", "-c", SETUP_SCRIPT % (MARKETS,))
        setup = json.loads(next(line for line in out.splitlines() if line.startswith("SETUP="))[6:])
        port = free_port()
        host = f"http://127.0.0.1:{port}"
        gunicorn = subprocess.Popen(
            [
                str(Path(PYTHON).parent / "gunicorn"),
                "portal.wsgi",
                "-w",
                str(args.workers),
                "-b",
                f"127.0.0.1:{port}",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
        )
        wait_until_up(f"{host}/healthcheck")
        # Every worker imports its views lazily on the first requests: keep that out of the figures.
        for _ in range(4 * args.workers):
            for path in ("/accounts/login/", "/healthcheck"):
                urllib.request.urlopen(f"{host}{path}", timeout=30).close()  # noqa: S310 (loopback)
        ramp = math.ceil(args.users / args.spawn_rate)
        print(
            f"gunicorn -w {args.workers} on {host}; {args.users} users arriving over {ramp} s "
            f"(not counted), then {args.seconds} s measured…",
            flush=True,
        )
        prefix = work / "locust"
        log = (work / "locust.log").open("w")
        subprocess.run(
            [
                PYTHON,
                "-m",
                "locust",
                "-f",
                str(Path(__file__).resolve()),
                "--headless",
                "--users",
                str(args.users),
                "--spawn-rate",
                str(args.spawn_rate),
                "--reset-stats",
                "--run-time",
                f"{args.seconds + ramp}s",
                "--stop-timeout",
                "5",
                "--host",
                host,
                "--csv",
                str(prefix),
                "--only-summary",
                "--loglevel",
                "WARNING",
            ],
            cwd=ROOT,
            env={**env, "MERIDIAN_LOAD_SETUP": json.dumps(setup)},
            timeout=args.seconds + ramp + 120,
            check=False,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        errors = _report(prefix, args.seconds, args.users)
        print(f"locust's own log: {work / 'locust.log'}")
    finally:
        if gunicorn is not None:
            gunicorn.terminate()
            try:
                gunicorn.wait(timeout=15)
            except subprocess.TimeoutExpired:
                gunicorn.kill()
        if not args.keep_db:
            recreate_database(base, LOAD_DB, drop_only=True)
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
