"""`make run` prints every demo login the README lists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_run_banner_names_every_demo_user_of_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme.split("Demo logins", 1)[1].split("\n\n", 2)[1]
    users = re.findall(r"^\| `([a-z-]+)` \|", table, flags=re.MULTILINE)
    assert len(users) >= 5
    banner = next(line for line in (ROOT / "Makefile").read_text().splitlines() if "Demo logins" in line)
    assert [u for u in users if not re.search(rf"(?<![\w-]){re.escape(u)}(?![\w-])", banner)] == []
