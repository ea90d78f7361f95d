"""Benchmark: the content board against Django admin's changelist over a million items.

Run from the repository root with `DATABASE_URL=postgres://... .venv/bin/python bench/board.py`.
It creates its own database `meridian_bench` on that server, seeds 1,000,000 items, 200 markets
and 1,000,000 positions with set-based INSERT ... SELECT (seconds, not minutes), then measures,
interleaved in the same run, the server time (in-process request through every middleware and
the template) of:

  browse (first page), a type filter, a title search, a deep page (offset 10,000) and a
  market-state filter (hidden in one market)

for the board (`/content/`) and for the admin changelist of the same model with Django's defaults
(COUNT(*) of the result and of the whole table, OFFSET paging) at the same 50 rows per page. It
prints medians, ratios against the goals and the number of queries of each, then times a
10,000-item bulk change through `positions_bulk_set` (positions, audit entries and outbox rows in
one transaction) against a raw `bulk_create` of 10,000 positions. The database is dropped at the end.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ITEMS = int(os.environ.get("BENCH_ITEMS", "1000000"))
MARKETS = int(os.environ.get("BENCH_MARKETS", "200"))
POSITIONS_PER_MARKET = int(os.environ.get("BENCH_POSITIONS_PER_MARKET", "5000"))
RUNS = int(os.environ.get("BENCH_RUNS", "9"))
PAGE = 50
DEEP_OFFSET = 10_000
BULK_ITEMS = 10_000
BENCH_DB = os.environ.get("BENCH_DB", "meridian_bench")
GOALS = {
    "browse": 0.1,
    "type filter": 0.1,
    "title search": 0.1,
    "deep page": 0.1,
    "market-state filter": 0.25,
}
TIMEZONES = ["Australia/Sydney", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "UTC", "Europe/London"]
WORDS_A = [
    "Lions",
    "Whales",
    "Glaciers",
    "Volcanoes",
    "Wolves",
    "Reefs",
    "Deserts",
    "Comets",
    "Forests",
    "Eagles",
    "Sharks",
    "Orcas",
    "Canyons",
    "Storms",
    "Tigers",
    "Penguins",
    "Rivers",
]
WORDS_B = [
    "of the Arctic",
    "in the Serengeti",
    "of Patagonia",
    "over Iceland",
    "of Borneo",
    "in the Alps",
    "of the Outback",
    "of Kamchatka",
    "in Yellowstone",
    "of Madagascar",
    "under the ice",
    "at dawn",
    "of the Amazon",
]


def _server_url(database: str) -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit("Set DATABASE_URL to a PostgreSQL server, e.g. postgres://postgres@127.0.0.1:5432/postgres")
    parts = urlparse(url)
    return urlunparse(parts._replace(path=f"/{database}"))


def _admin_connection() -> Any:
    import psycopg

    return psycopg.connect(_server_url("postgres"), autocommit=True)


def create_database() -> None:
    with _admin_connection() as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {BENCH_DB}")


def drop_database() -> None:
    from django.db import connections

    connections.close_all()
    with _admin_connection() as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")


def setup_django() -> None:
    os.environ["DATABASE_URL"] = _server_url(BENCH_DB)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.test")
    # Measure the transaction, not the shared-tables publisher (it runs after commit, elsewhere).
    os.environ["SHARED_TABLES_PUBLISH_ON_COMMIT"] = "0"
    os.environ["DB_CONN_MAX_AGE"] = "600"
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    # The test settings publish inline after every commit; the bench measures the transaction.
    settings.SHARED_TABLES_PUBLISH_ON_COMMIT = False

    call_command("migrate", verbosity=0)


def seed() -> None:
    from django.db import connection

    array = lambda values: "ARRAY[" + ",".join(f"'{v}'" for v in values) + "]"  # noqa: E731
    with connection.cursor() as cur:
        started = time.perf_counter()
        cur.execute(
            f"""
            INSERT INTO markets_market (code, name, languages, timezone, default_visibility, active, version,
                                        created_at, updated_at)
            SELECT chr(65 + g / 26) || chr(65 + g % 26), 'Market ' || g, '["en"]'::jsonb,
                   ({array(TIMEZONES)})[1 + g % {len(TIMEZONES)}], 'visible', true, 1, now(), now()
            FROM generate_series(0, {MARKETS - 1}) g
            """
        )
        cur.execute(
            "INSERT INTO content_tag (slug, label) "
            "SELECT 'tag-' || g, 'Tag ' || g FROM generate_series(0, 49) g"
        )
        # Newest first by id, with jitter so that publication times tie and cross now and then.
        cur.execute(
            f"""
            INSERT INTO content_contentitem (upstream_id, content_type, title, summary, url, source, language,
                published_at, premium, upstream_tags, rights_allow, rights_deny, version, created_at,
                updated_at)
            SELECT 'bench-' || lpad(g::text, 7, '0'),
                   (ARRAY['article','article','video','clip','gallery','image'])[1 + g % 6],
                   ({array(WORDS_A)})[1 + g % {len(WORDS_A)}] || ' ' ||
                       ({array(WORDS_B)})[1 + (g / {len(WORDS_A)}) % {len(WORDS_B)}] || ' ' || g,
                   '', '',
                   (ARRAY['natgeo-editorial','natgeo-tv','nat-geo-wild','partner-bbc','partner-abc','archive',
                          'kids','photo-desk'])[1 + (g / 7) % 8],
                   (ARRAY['en','en','de','fr','es','ja'])[1 + (g / 3) % 6],
                   timestamptz '2026-11-01 00:00+00' - g * interval '5 minutes'
                       - ((g::bigint * 7919) % 900) * interval '1 second',
                   g % 10 = 0, '[]'::jsonb, '[]'::jsonb, '[]'::jsonb, 1, now(), now()
            FROM generate_series(1, {ITEMS}) g
            """
        )
        cur.execute(
            """
            INSERT INTO content_itemtag (item_id, tag_id)
            SELECT i.id, t.id FROM content_contentitem i JOIN content_tag t ON t.slug = 'tag-' || (i.id % 50)
            """
        )
        cur.execute("SELECT min(id), count(*) FROM content_contentitem")
        first_id, count = cur.fetchone()
        # Each market gets 5,000 distinct items (199 is coprime with the item count's factors),
        # a quarter each hidden, promoted, shown and reset to default.
        cur.execute(
            f"""
            INSERT INTO content_position (market_id, item_id, state, boost, slot, section, starts_at, ends_at,
                                          reason, version, created_at, updated_at, item_published_at)
            SELECT p.market_id, p.item_id, p.state, p.boost, NULL, '', NULL, NULL, 'bench', 1, now(), now(),
                   i.published_at
            FROM (
                SELECT m.id AS market_id, {first_id} + ((m.rn * 4999 + k * 199) % {count}) AS item_id,
                       (ARRAY['hidden','promoted','shown','default'])[1 + k % 4] AS state,
                       CASE WHEN k % 4 = 1 THEN 2 ELSE 0 END AS boost
                FROM (SELECT id, row_number() OVER (ORDER BY id) AS rn FROM markets_market) m
                CROSS JOIN generate_series(0, {POSITIONS_PER_MARKET - 1}) k
            ) p
            JOIN content_contentitem i ON i.id = p.item_id
            """
        )
        cur.execute("ANALYZE")
        cur.execute("SELECT count(*) FROM content_position")
        positions = cur.fetchone()[0]
    print(
        f"seeded {count:,} items, {MARKETS} markets, {positions:,} positions, {count:,} item tags "
        f"in {time.perf_counter() - started:.1f} s"
    )


def bench_admin_site() -> Any:
    """Django admin's changelist for ContentItem as the project registers it, at 50 rows a page.

    Related lookups (positions__...) are only accepted by the admin for fields in list_filter;
    allowing them keeps both filters in one .filter() call (the same semantics as the board).
    """
    from django.contrib import admin

    from content.admin import ContentItemAdmin
    from content.models import ContentItem

    class BenchContentItemAdmin(ContentItemAdmin):
        list_per_page = PAGE

        def lookup_allowed(self, lookup: str, value: str, request: Any = None) -> bool:
            return True

    site = admin.AdminSite(name="bench_admin")
    site.register(ContentItem, BenchContentItemAdmin)
    return site


def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def main() -> None:
    # BENCH_REUSE=1 measures an existing meridian_bench; BENCH_KEEP=1 leaves it for the next run.
    reuse = os.environ.get("BENCH_REUSE") == "1"
    keep = os.environ.get("BENCH_KEEP") == "1"
    if not reuse:
        create_database()
    try:
        setup_django()
        if not reuse:
            seed()
        measure()
    finally:
        if not keep:
            drop_database()
            print(f"dropped database {BENCH_DB}")


def measure() -> None:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, override_settings
    from django.urls import include, path

    from accounts.models import User
    from content.board import encode_cursor
    from content.models import ContentItem, Position
    from content.services import PositionChange, positions_bulk_set
    from markets.models import Market

    site = bench_admin_site()
    module = type(sys)("bench_board_urls")
    module.urlpatterns = [path("bench-admin/", site.urls), path("", include("portal.urls"))]  # type: ignore[attr-defined]
    sys.modules["bench_board_urls"] = module

    user = User.objects.filter(username="bench").first() or User.objects.create_superuser(
        "bench", "bench@example.com", "bench-password"
    )
    market = Market.objects.order_by("id")[min(7, MARKETS - 1)]
    client = Client()
    client.force_login(user)

    deep = ContentItem.objects.order_by("-published_at", "-id")[DEEP_OFFSET - 1]
    word = "Glaciers"
    hidden_filter = f"positions__market__code={market.code}&positions__state=hidden"
    cases = {
        "browse": (f"/content/?market={market.code}", "/bench-admin/content/contentitem/"),
        "type filter": (
            f"/content/?market={market.code}&type=video",
            "/bench-admin/content/contentitem/?content_type__exact=video",
        ),
        "title search": (
            f"/content/?market={market.code}&q={word}",
            f"/bench-admin/content/contentitem/?q={word}",
        ),
        "deep page": (
            f"/content/?market={market.code}&after={encode_cursor('newest', deep)}",
            f"/bench-admin/content/contentitem/?p={DEEP_OFFSET // PAGE + 1}",
        ),
        "market-state filter": (
            f"/content/?market={market.code}&state=hidden",
            f"/bench-admin/content/contentitem/?{hidden_filter}",
        ),
    }
    times: dict[str, dict[str, list[float]]] = {name: {"board": [], "admin": []} for name in cases}
    queries: dict[str, dict[str, int]] = {name: {} for name in cases}

    def get(url: str) -> None:
        response = client.get(url)
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}")

    with override_settings(ROOT_URLCONF="bench_board_urls", DEBUG=False):
        for name, (board_url, admin_url) in cases.items():
            # Warm caches and check both pages show 50 rows of the same filter.
            for kind, url in (("board", board_url), ("admin", admin_url)):
                get(url)  # the first view fills caches (filter suggestions, session): count the next
                with CaptureQueriesContext(connection) as ctx:
                    get(url)
                queries[name][kind] = len(ctx.captured_queries)
        for run in range(RUNS):
            for name, (board_url, admin_url) in cases.items():
                # Alternate who goes first so neither always benefits from the other's cache.
                order = [("board", board_url), ("admin", admin_url)]
                for kind, url in order if run % 2 == 0 else reversed(order):
                    times[name][kind].append(timed(lambda url=url: get(url)))

    print(f"\nserver time per page view, median of {RUNS} interleaved runs, {PAGE} rows per page")
    print(f"{'case':<22}{'board ms':>10}{'admin ms':>10}{'ratio':>8}{'goal':>7}  {'queries b/a':>12}")
    for name in cases:
        board_ms = statistics.median(times[name]["board"])
        admin_ms = statistics.median(times[name]["admin"])
        ratio = board_ms / admin_ms
        verdict = "ok" if ratio <= GOALS[name] else "MISSED"
        print(
            f"{name:<22}{board_ms:>10.1f}{admin_ms:>10.1f}{ratio:>8.3f}{GOALS[name]:>7}  "
            f"{queries[name]['board']:>5} / {queries[name]['admin']:<5} {verdict}"
        )

    # --- bulk change: the service (positions + audit + outbox, one transaction) vs raw rows ----
    published = dict(ContentItem.objects.order_by("id").values_list("id", "published_at")[:BULK_ITEMS])
    ids = list(published)
    service_ms: list[float] = []
    raw_ms: list[float] = []
    change = PositionChange(state="promoted", boost=3, reason="Ocean Week")
    for run in range(3):
        Market.objects.filter(code__in=[f"Z{run}{k}" for k in range(2)]).delete()
        fresh = [Market.objects.create(code=f"Z{run}{k}", name="bench", languages=["en"]) for k in range(2)]

        def service(m: Market = fresh[0]) -> None:
            positions_bulk_set(actor=user, markets=[m], item_ids=ids, change=change)

        def raw(m: Market = fresh[1]) -> None:
            from django.db import transaction

            with transaction.atomic():
                Position.objects.bulk_create(
                    [
                        Position(
                            market=m,
                            item_id=i,
                            state="promoted",
                            boost=3,
                            reason="Ocean Week",
                            item_published_at=published[i],
                        )
                        for i in ids
                    ],
                    batch_size=1000,
                )

        pair = [(service_ms, service), (raw_ms, raw)]
        for bucket, fn in pair if run % 2 == 0 else reversed(pair):
            bucket.append(timed(fn))
    service_median, raw_median = statistics.median(service_ms), statistics.median(raw_ms)
    ratio = service_median / raw_median
    print(
        f"\nbulk change of {BULK_ITEMS:,} items: positions_bulk_set {service_median:.0f} ms "
        f"(writes {BULK_ITEMS:,} positions + audit entries + outbox rows) vs raw bulk_create "
        f"{raw_median:.0f} ms: ratio {ratio:.2f} (goal <= 3) {'ok' if ratio <= 3 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
