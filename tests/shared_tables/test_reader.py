"""The reader the public API uses: same decisions as the portal's preview, from the tables alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine

from accounts.models import User
from content.models import ContentItem
from content.selectors import market_preview
from content.services import PositionChange, item_tags_update, position_reset, position_set
from markets.models import Market
from markets.services import rule_create
from portal.shared_tables.models import OutboxKind
from portal.shared_tables.outbox import outbox_enqueue_many
from portal.shared_tables.publisher import drain
from positioning.reader import SharedTablesReader
from positioning.resolver import Candidate
from positioning.tables import PutRequest, SharedTables, SharedTablesError
from tests.factories import ContentItemFactory, TagFactory

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
AT = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


class CountingTables:
    """Wraps tables and counts the reads the reader makes."""

    def __init__(self, inner: SharedTables) -> None:
        self.inner = inner
        self.gets = 0
        self.batches: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def get_item(self, table: str, key: Sequence[str]) -> Any:
        self.gets += 1
        return self.inner.get_item(table, key)

    def batch_get(self, keys: Sequence[Any]) -> Any:
        self.batches.append(len(keys))
        return self.inner.batch_get(keys)


@pytest.fixture
def scenario(au: Market, optus: Market, editor: User) -> dict[str, ContentItem]:
    """Rules, positions of every kind and editors' tag edits in AU and AU-OPTUS, all published."""
    for slug in ("hunting", "ocean", "wildlife"):
        TagFactory(slug=slug)
    day = timedelta(days=1)
    make = ContentItemFactory
    items = {
        "plain": make(upstream_id="plain", published_at=AT - 1 * day, tag_slugs=["wildlife"]),
        "hunt": make(upstream_id="hunt", published_at=AT - 2 * day, tag_slugs=["hunting"]),
        "untagged-hunt": make(upstream_id="untagged-hunt", published_at=AT - 3 * day, tag_slugs=["ocean"]),
        "video": make(upstream_id="video", content_type="video", published_at=AT - 4 * day),
        "pinned": make(upstream_id="pinned", published_at=AT - 5 * day),
        "promoted": make(upstream_id="promoted", published_at=AT - 6 * day),
        "hidden": make(upstream_id="hidden", published_at=AT - 7 * day),
        "expired": make(upstream_id="expired", published_at=AT - 8 * day, tag_slugs=["hunting"]),
        "reset": make(upstream_id="reset", published_at=AT - 9 * day),
    }
    rule_create(actor=None, market=au, action="hide", match_tags=["hunting"], note="youth review")
    rule_create(
        actor=None, market=au, action="promote", match_content_types=["video"], boost=2, starts_at=AT - day
    )
    # Editors: "hunting" added to an item upstream did not tag, removed from one it did.
    item_tags_update(actor=editor, item=items["untagged-hunt"], add=["hunting"])
    item_tags_update(actor=editor, item=items["hunt"], remove=["hunting"])
    change = PositionChange
    position_set(actor=None, market=au, item=items["pinned"], change=change(state="pinned", slot=1))
    position_set(actor=None, market=au, item=items["promoted"], change=change(state="promoted", boost=5))
    position_set(actor=None, market=au, item=items["hidden"], change=change(state="hidden", reason="legal"))
    # A window that has since ended (set while it still ran: past windows are refused)
    with time_machine.travel(AT - 2 * day):
        position_set(
            actor=None, market=au, item=items["expired"], change=change(state="shown", ends_at=AT - day)
        )
    position_set(actor=None, market=au, item=items["reset"], change=change(state="hidden"))
    position_reset(actor=None, market=au, item=items["reset"])
    position_set(actor=None, market=optus, item=items["plain"], change=change(state="shown"))
    outbox_enqueue_many(kind=OutboxKind.CONTENT, entries=[(i.upstream_id, i.version) for i in items.values()])
    outbox_enqueue_many(kind=OutboxKind.MARKET, entries=[(optus.code, optus.version)])
    assert drain().dead == 0
    return items


def search_page(at: datetime) -> list[Candidate]:
    """The candidates a search engine would return: recency order, upstream tags only."""
    return [
        Candidate(content_id=cid, content_type=ctype, source=source, tags=frozenset(tags))
        for cid, ctype, source, tags in ContentItem.objects.filter(published_at__lte=at)
        .order_by("-published_at", "-id")
        .values_list("upstream_id", "content_type", "source", "upstream_tags")
    ]


def as_rows(entries: Sequence[Any]) -> list[tuple[str, Any]]:
    return [(entry.candidate.content_id, entry.decision) for entry in entries]


@pytest.mark.parametrize("code", ["AU", "AU-OPTUS"])
def test_the_reader_decides_exactly_like_the_portal_preview(
    tables: SharedTables, scenario: dict[str, ContentItem], code: str
) -> None:
    # Given everything published, and the search engine's page of candidates
    reader = SharedTablesReader(tables)

    # When the reader resolves the page from the shared tables alone
    feed = reader.feed(code, search_page(AT), at=AT, include_hidden=True)

    # Then order, states and reasons equal the portal's preview from the database
    assert feed is not None
    preview = market_preview(market=Market.objects.get(code=code), at=AT, limit=100, include_hidden=True)
    assert as_rows(feed.entries) == as_rows(preview)


def test_editors_tags_replace_the_search_engines(
    tables: SharedTables, scenario: dict[str, ContentItem]
) -> None:
    # Given the search engine still has the upstream tags
    feed = SharedTablesReader(tables).feed("AU", search_page(AT), at=AT, include_hidden=True)
    assert feed is not None
    decided = {e.candidate.content_id: e.decision for e in feed.entries}

    # Then the tag an editor added hides an item, and the one they removed no longer does
    assert decided["untagged-hunt"].state == "hidden"
    assert decided["untagged-hunt"].reason == "Hidden by rule #{}: tags hunting (youth review)".format(
        decided["untagged-hunt"].rule_id
    )
    assert decided["hunt"].visible
    # And the visible order is pins, promotions, then the rest
    visible = [e.candidate.content_id for e in feed.entries if e.decision.visible]
    assert visible == ["pinned", "promoted", "video", "plain", "hunt", "reset"]


def test_an_item_meridian_does_not_know_keeps_its_own_tags(
    tables: SharedTables, scenario: dict[str, Any]
) -> None:
    # Given a candidate that is not (yet) in the content table
    newcomer = Candidate(
        content_id="brand-new", content_type="article", source="x", tags=frozenset({"hunting"})
    )

    # When resolved, then its own tags apply
    feed = SharedTablesReader(tables).feed("AU", [newcomer], at=AT, include_hidden=True)
    assert feed is not None and feed.entries[0].decision.state == "hidden"


def test_the_market_item_is_cached_for_a_few_seconds(tables: SharedTables, scenario: dict[str, Any]) -> None:
    # Given a reader with a 5-second cache and a clock under the test's control
    now = [100.0]
    counting = CountingTables(tables)
    reader = SharedTablesReader(counting, market_ttl_seconds=5, clock=lambda: now[0])  # type: ignore[arg-type]

    # When three feeds are read within 5 seconds, and one after
    for _ in range(3):
        reader.feed("AU", search_page(AT)[:3], at=AT)
    now[0] += 5.1
    reader.feed("AU", search_page(AT)[:3], at=AT)

    # Then the market item was read twice, and each page cost one BatchGetItem
    assert counting.gets == 2
    assert counting.batches == [6, 6, 6, 6]


def test_a_large_page_is_read_in_batches_of_at_most_100_keys(
    tables: SharedTables, scenario: dict[str, Any]
) -> None:
    # Given 120 candidates, one of them twice
    page = [Candidate(content_id=f"x-{n}") for n in range(120)] + [Candidate(content_id="x-0")]
    counting = CountingTables(tables)

    # When resolved
    feed = SharedTablesReader(counting).feed("AU", page, at=AT)  # type: ignore[arg-type]

    # Then 240 distinct keys were read in requests of at most 100
    assert counting.batches == [100, 100, 40]
    assert feed is not None and len(feed.entries) == 121


def test_unknown_markets_newer_schemas_and_naive_times(
    tables: SharedTables, scenario: dict[str, Any]
) -> None:
    reader = SharedTablesReader(tables)
    # A market that is not published has no feed
    assert reader.feed("NZ", [], at=AT) is None
    # A naive time is refused
    with pytest.raises(ValueError):
        reader.feed("AU", [], at=datetime(2026, 1, 1))
    # An item written by a newer Meridian is refused rather than misread
    tables.put_if_newer(
        [
            PutRequest(
                "markets",
                {"market": "ZZ", "version": 1, "default_visibility": "visible", "schema_version": 3},
            )
        ]
    )
    with pytest.raises(SharedTablesError, match="schema_version 3"):
        reader.market("ZZ")


def test_the_reader_runs_without_django_in_another_process(
    local_tables: SharedTables, scenario: dict[str, Any], settings: Any
) -> None:
    # Given the published local tables, and a process with no Django settings at all
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO", "AWS_ENDPOINT"))}
    env |= {
        "SHARED_TABLES_BACKEND": "local",
        "SHARED_TABLES_PREFIX": settings.SHARED_TABLES_PREFIX,
        "SHARED_TABLES_LOCAL_PATH": str(settings.SHARED_TABLES_LOCAL_PATH),
    }
    page = [[c.content_id, c.content_type, c.source, sorted(c.tags)] for c in search_page(AT)]
    script = f"""
import json, sys
from datetime import datetime
from positioning.resolver import Candidate
from positioning.reader import SharedTablesReader
page = [Candidate(c, t, s, frozenset(tags)) for c, t, s, tags in json.loads(sys.argv[1])]
feed = SharedTablesReader.from_env().feed("AU", page, at=datetime.fromisoformat("{AT.isoformat()}"))
print(json.dumps({{
    "django": "django" in sys.modules,
    "boto3": "boto3" in sys.modules,
    "items": [[e.candidate.content_id, e.decision.state, e.decision.reason] for e in feed.entries],
}}))
"""

    # When the reader resolves AU's page there
    out = subprocess.run(
        [sys.executable, "-c", script, json.dumps(page)], cwd=ROOT, env=env, capture_output=True, text=True
    )

    # Then it works without importing Django (or boto3, for the local file), with the same answer
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert (result["django"], result["boto3"]) == (False, False)
    in_process = SharedTablesReader(local_tables).feed("AU", search_page(AT), at=AT)
    assert in_process is not None
    assert result["items"] == [
        [e.candidate.content_id, e.decision.state, e.decision.reason] for e in in_process.entries
    ]


def test_the_configured_reader_can_be_built_first(local_tables: SharedTables) -> None:
    # Given no reader and no tables built yet for the current settings (a fresh process)
    from threading import Thread

    from portal.shared_tables import config

    config.forget()
    built: list[SharedTablesReader] = []

    # When the feed endpoint asks for the reader first (it builds the tables under the same lock)
    worker = Thread(target=lambda: built.append(config.shared_tables_reader()), daemon=True)
    worker.start()
    worker.join(timeout=10)

    # Then it is built, without deadlocking, over the one shared tables instance
    assert built, "building the reader deadlocked"
    assert built[0].tables is config.shared_tables()
