"""What the server benchmarks share: a throwaway PostgreSQL database, manage.py, waiting for a server.

Standard library at import time (psycopg loads on use), so a benchmark can import it before it
starts anything; bench/load.py's locust users never need it.
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


def database_url(base: str, name: str) -> str:
    """Return `base` (a PostgreSQL server URL) pointed at database `name`."""
    return urlunparse(urlparse(base)._replace(path=f"/{name}"))


def recreate_database(base: str, name: str, *, drop_only: bool = False) -> None:
    """Drop database `name` on `base`'s server (forcing connections off) and create it again."""
    import psycopg

    with psycopg.connect(database_url(base, "postgres"), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        if not drop_only:
            conn.execute(f"CREATE DATABASE {name}")


def manage(env: dict[str, str], *args: str) -> str:
    """Run `manage.py args` with `env`; its output, or SystemExit with what it printed."""
    result = subprocess.run(
        [PYTHON, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900
    )
    if result.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def wait_until_up(url: str, seconds: float = 30) -> None:
    """Return once `url` answers 200; SystemExit after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback only)
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"the server did not answer {url} within {seconds:.0f} s")
