"""The JSON Schema of each shared table's items (`<table>.json`), the contract with the public APIs."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

SCHEMA_DIR = Path(__file__).resolve().parent


@cache
def load_schema(table: str) -> dict[str, Any]:
    """Return the JSON Schema of `table`'s items; FileNotFoundError when there is none."""
    schema: dict[str, Any] = json.loads((SCHEMA_DIR / f"{table}.json").read_text(encoding="utf-8"))
    return schema
