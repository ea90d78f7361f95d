"""Benchmark: what partner-key enforcement costs per request on the protected endpoint.

Run from the repository root with `python bench/keys.py` (or `make bench-keys`). It builds a
throwaway SQLite database under a temporary MERIDIAN_VAR_DIR, issues keys on a "Partner Gold"
plan (rate 50/s, burst 500, 20,000 a month: so each key's moving window holds up to 500 entries,
as in production) and times, in-process with Django's RequestFactory:

- the stand-in endpoint's view without any key check (the baseline), against
- the same view behind `require_partner_key` (key lookup + throttle + quota + daily count),
- and the same for the reference feed `GET /feed/v1/AU` (200 published items, the feed's default
  page of 20): its view undecorated against the view behind the decorator,

with the limiter on each storage: the SQLite file (the embedded default), `limits`' memory
storage (one process only) and Redis (REDIS_URL, else redis://127.0.0.1:6379/15 if it answers;
only this run's own key prefix is deleted afterwards). The key lookup is cached in-process for
PARTNER_KEY_CACHE_SECONDS (5 s by default); one more row shows the cost without that cache.
It also times the full middleware stack (Django's test Client) for scale.

Every request is admitted: each key makes 400 requests, under its burst of 500. Traffic recording
(one sample per request, flushed to the rollups) is measured on the feed, its flush included.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PER_KEY = 400
KEYS_PER_ROUND = 5
ROUNDS = 5
RECORDING_ROUNDS = 11
CHUNK = 20


def configure(var_dir: str) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "portal.settings.local",
            "MERIDIAN_VAR_DIR": var_dir,
            "DEBUG": "0",
            "LOG_LEVEL": "WARNING",
            "GATEWAY_BACKEND": "local",
            "API_GATEWAY_STAGES": "meridian:local",
            "SHARED_TABLES_PUBLISH_ON_COMMIT": "0",
            "SHARED_TABLES_BACKEND": "local",
        }
    )
    os.environ.pop("DATABASE_URL", None)


def redis_url() -> str | None:
    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/15"
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=0.3).ping()
    except Exception:
        return None
    return url


def seed() -> tuple[Any, Any]:
    from django.core.management import call_command

    from accounts.partners.services import PlanInput, partner_create, plan_create

    call_command("migrate", verbosity=0)
    partner = partner_create(actor=None, name="Optus")
    plan = plan_create(
        actor=None,
        data=PlanInput(
            name="Partner Gold",
            rate_limit=50,
            burst_limit=500,
            quota_limit=20_000,
            quota_period="MONTH",
            api_stages=["meridian:local"],
        ),
    )
    return partner, plan


def fresh_secrets(partner: Any, plan: Any, count: int) -> list[str]:
    from accounts.partners.services import key_issue

    return [
        key_issue(actor=None, partner=partner, plan=plan, name=f"bench {uuid.uuid4().hex[:6]}").secret
        for _ in range(count)
    ]


def time_calls(call: Callable[[str], int], secrets: list[str]) -> float:
    """Return microseconds per request over PER_KEY requests with each secret."""
    started = time.perf_counter()
    for secret in secrets:
        for _ in range(PER_KEY):
            status = call(secret)
            if status != 200:
                raise RuntimeError(
                    f"unexpected status {status}: the benchmark must only measure admitted requests"
                )
    return (time.perf_counter() - started) / (len(secrets) * PER_KEY) * 1e6


def measure(call: Callable[[str], int], partner: Any, plan: Any, keys: int = KEYS_PER_ROUND) -> float:
    """Median of ROUNDS rounds, each with fresh keys (so no key outgrows its burst)."""
    results = []
    for _ in range(ROUNDS):
        results.append(time_calls(call, fresh_secrets(partner, plan, keys)))
    return statistics.median(results)


def measure_recording(
    call: Callable[[str], int], partner: Any, plan: Any, uri: str, prefix: str
) -> tuple[float, float, float]:
    """Median µs per request of `call` without and with traffic recording, and the median ratio.

    On two shared cores the machine's speed drifts by more than the effect being measured, so
    each round alternates chunks of CHUNK requests without and with recording (two fresh keys),
    adds the recorder's flush (samples stored, minutes rolled up) to the recorded side, and the
    ratio is taken per round.
    """
    from accounts.partners import enforcement
    from accounts.partners.enforcement import PartnerLimiter, storage_from_uri
    from accounts.partners.traffic.recorder import get_recorder

    recorder = get_recorder()
    real_record = enforcement._record

    def skip_record(*args: Any, **kwargs: Any) -> None:
        return None

    off: list[float] = []
    on: list[float] = []
    for _ in range(RECORDING_ROUNDS):
        enforcement.set_limiter(PartnerLimiter(storage_from_uri(uri, key_prefix=prefix)))
        secret_off, secret_on = fresh_secrets(partner, plan, 2)
        recorder.discard()
        spent = {False: 0.0, True: 0.0}
        for _chunk in range(PER_KEY // CHUNK):
            for enabled, secret in ((False, secret_off), (True, secret_on)):
                enforcement._record = real_record if enabled else skip_record
                started = time.perf_counter()
                for _request in range(CHUNK):
                    if call(secret) != 200:
                        raise RuntimeError("the benchmark must only measure admitted requests")
                spent[enabled] += time.perf_counter() - started
        started = time.perf_counter()
        stored = recorder.flush()
        spent[True] += time.perf_counter() - started
        if stored != PER_KEY:
            raise RuntimeError(f"recorded {stored} of {PER_KEY} requests")
        off.append(spent[False] / PER_KEY * 1e6)
        on.append(spent[True] / PER_KEY * 1e6)
    enforcement._record = real_record
    ratios = [with_recording / without for without, with_recording in zip(off, on, strict=True)]
    return statistics.median(off), statistics.median(on), statistics.median(ratios)


def publish_feed() -> None:
    """AU and 200 items in the local shared tables, so the reference feed has real work to do."""
    from datetime import UTC, datetime, timedelta

    from content.services import ContentRow, content_upsert_bulk
    from markets.services import market_create
    from portal.shared_tables.publisher import drain

    market_create(actor=None, code="AU", name="Australia", languages=["en"], timezone="Australia/Sydney")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    content_upsert_bulk(
        actor=None,
        rows=[
            ContentRow(
                upstream_id=f"bench-{n}",
                content_type="article",
                title=f"Story {n}",
                source="bench",
                language="en",
                published_at=start + timedelta(minutes=n),
            )
            for n in range(200)
        ],
    )
    drain()


def main() -> int:
    var_dir = tempfile.mkdtemp(prefix="meridian-bench-keys-")
    configure(var_dir)
    import django

    django.setup()
    from django.conf import settings
    from django.http import HttpRequest, JsonResponse
    from django.test import Client, RequestFactory

    from accounts.partners import enforcement
    from accounts.partners.enforcement import PartnerLimiter, require_partner_key, storage_from_uri

    redis_prefix = f"meridian-bench-keys-{uuid.uuid4().hex[:8]}"
    try:
        partner, plan = seed()
        factory = RequestFactory()

        def bare_view(request: HttpRequest) -> JsonResponse:
            return JsonResponse({"ok": True, "key": "-"})

        protected_view = require_partner_key(bare_view, resource="/partners/probe")

        def bare(secret: str) -> int:
            return bare_view(factory.get("/partners/probe/", headers={"x-api-key": secret})).status_code

        def protected(secret: str) -> int:
            return protected_view(factory.get("/partners/probe/", headers={"x-api-key": secret})).status_code

        storages: list[tuple[str, str]] = [
            ("SQLite file (default)", f"meridian+sqlite:///{Path(var_dir) / 'bench-limits.sqlite3'}"),
            ("memory (1 process)", "memory://"),
        ]
        url = redis_url()
        if url:
            storages.append((f"Redis ({url})", url))

        baseline = measure(bare, partner, plan)
        rows: list[tuple[str, float]] = []
        for label, uri in storages:
            enforcement.set_limiter(PartnerLimiter(storage_from_uri(uri, key_prefix=redis_prefix)))
            settings.PARTNER_KEY_CACHE_SECONDS = 5
            rows.append((f"{label}, key cache 5 s", measure(protected, partner, plan)))
            if uri.startswith("meridian+sqlite"):
                settings.PARTNER_KEY_CACHE_SECONDS = 0
                rows.append((f"{label}, no key cache (1 query/request)", measure(protected, partner, plan)))
                settings.PARTNER_KEY_CACHE_SECONDS = 5

        # The reference feed itself, undecorated vs behind the decorator (as shared_tables/feed.py would
        # wire it): the same endpoint with and without key checks.
        from portal.shared_tables import feed

        publish_feed()
        feed_view = getattr(feed.feed, "__wrapped__", feed.feed)
        protected_feed = require_partner_key(feed_view, resource="/feed/v1/{market}")

        def feed_bare(secret: str) -> int:
            return feed_view(
                factory.get("/feed/v1/AU", headers={"x-api-key": secret}), market="AU"
            ).status_code

        def feed_protected(secret: str) -> int:
            request = factory.get("/feed/v1/AU", headers={"x-api-key": secret})
            return protected_feed(request, market="AU").status_code

        feed_rows: list[tuple[str, float]] = []
        for label, uri in storages:
            if uri.startswith("memory"):
                continue
            enforcement.set_limiter(PartnerLimiter(storage_from_uri(uri, key_prefix=redis_prefix)))
            feed_rows.append((f"{label}, key cache 5 s", measure(feed_protected, partner, plan, keys=1)))
        feed_baseline = measure(feed_bare, partner, plan, keys=1)

        # Traffic recording (one sample per request, flushed to the rollups in batches): the feed
        # behind the decorator with and without it, rounds interleaved, each recorded round's
        # flush (samples stored + minutes rolled up) inside the timed span.
        recording = measure_recording(feed_protected, partner, plan, storages[0][1], redis_prefix)

        # For scale: the whole middleware stack, probe route vs the health check's bare answer.
        enforcement.set_limiter(PartnerLimiter(storage_from_uri(storages[0][1])))
        client = Client()
        full_probe = measure(
            lambda s: client.get("/partners/probe/", headers={"x-api-key": s}).status_code, partner, plan
        )
        full_health = measure(lambda s: client.get("/healthcheck").status_code, partner, plan)

        print(f"Per request, {KEYS_PER_ROUND * PER_KEY} requests a round, median of {ROUNDS} rounds")
        print(f"  {'view without key checks (baseline)':<58} {baseline:8.1f} µs")
        for label, value in rows:
            print(f"  {label:<58} {value:8.1f} µs   +{value - baseline:6.1f} µs   x{value / baseline:5.1f}")
        print(f"GET /feed/v1/AU (20 of 200 items), {PER_KEY} requests a round, median of {ROUNDS} rounds")
        print(f"  {'feed without key checks (baseline)':<58} {feed_baseline:8.1f} µs")
        for label, value in feed_rows:
            extra = value - feed_baseline
            print(f"  {label:<58} {value:8.1f} µs   +{extra:6.1f} µs   x{value / feed_baseline:5.2f}")
        off, on, ratio = recording
        print(f"Traffic recording, GET /feed/v1/AU ({RECORDING_ROUNDS} rounds of {PER_KEY} off and on):")
        print(f"  {'behind the decorator, recording off':<58} {off:8.1f} µs")
        print(
            f"  {'behind the decorator, recording on':<58} {on:8.1f} µs   +{on - off:6.1f} µs   x{ratio:5.3f}"
        )
        verdict = "within" if ratio <= 1.10 else "OVER"
        print(f"  recording adds {100 * (ratio - 1):.1f} % to the feed's time (median of the rounds' ratios)")
        print(f"  ({verdict} the 10 % budget)")
        print("Full middleware stack (test Client):")
        print(f"  {'GET /healthcheck (no view, no key)':<58} {full_health:8.1f} µs")
        print(f"  {'GET /partners/probe/ with a key (SQLite file)':<58} {full_probe:8.1f} µs")
    finally:
        if redis_url():
            import redis

            client_r = redis.Redis.from_url(redis_url() or "")
            stale = list(client_r.scan_iter(match=f"{redis_prefix}:*", count=1000))
            if stale:
                client_r.delete(*stale)
        shutil.rmtree(var_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
