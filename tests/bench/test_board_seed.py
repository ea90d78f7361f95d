"""bench/board.py seeds its million items with raw SQL: it must keep up with the models.

The seed inserts rows column by column, so a NOT NULL column added to a model breaks it (it did,
when content rights arrived) and nobody notices until someone measures. This runs the whole script
at a tiny scale on the PostgreSQL server, in a database of its own, when the suite runs on
PostgreSQL (DATABASE_URL, as CI's PostgreSQL pass does).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _server() -> str:
    return os.environ.get("DATABASE_URL", "")


@pytest.mark.slow
def test_the_board_bench_seeds_and_measures_at_a_small_scale() -> None:
    if not _server().startswith(("postgres://", "postgresql://")):
        pytest.skip("bench/board.py needs PostgreSQL: this runs in the suite's PostgreSQL pass.")
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "MERIDIAN_VAR_DIR")},
        "DATABASE_URL": _server(),
        "BENCH_DB": f"meridian_bench_smoke_{os.getpid()}",
        "BENCH_ITEMS": "12000",
        "BENCH_MARKETS": "4",
        "BENCH_POSITIONS_PER_MARKET": "1000",
        "BENCH_RUNS": "1",
    }
    result = subprocess.run(
        [sys.executable, "bench/board.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "seeded 12,000 items, 4 markets, 4,000 positions" in result.stdout
    assert "market-state filter" in result.stdout and "dropped database" in result.stdout
