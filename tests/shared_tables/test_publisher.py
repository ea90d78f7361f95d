"""The publisher: coalescing, one query per batch, conditional puts, retries, dead letters, outages."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import User
from content.models import ContentItem, Position
from content.services import (
    ContentRow,
    PositionChange,
    content_upsert_bulk,
    item_tags_update,
    position_set,
    positions_bulk_set,
)
from markets.models import Market
from markets.services import market_update, rule_create
from portal.shared_tables import outage
from portal.shared_tables.items import _BUILDERS, ItemBuilder, register_builder
from portal.shared_tables.models import OutboxEntry, OutboxKind, OutboxStatus
from portal.shared_tables.outbox import outbox_enqueue
from portal.shared_tables.publisher import drain, publish_soon, retry_delay
from portal.shared_tables.services import dead_letters_retry
from positioning.tables import PutRequest, PutResult, PutStatus, SharedTables
from tests.factories import ContentItemFactory, TagFactory
from tests.shared_tables.conftest import assert_schema_valid

pytestmark = pytest.mark.django_db


class ScriptedTables:
    """Wraps real tables; puts of the keys in `script` answer the scripted statuses first."""

    def __init__(self, inner: SharedTables, script: dict[tuple[str, ...], list[PutStatus]]) -> None:
        self.inner = inner
        self.script = script
        self.put_calls: list[list[PutRequest]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def put_if_newer(self, requests: Sequence[PutRequest], *, allow_equal: bool = False) -> list[PutResult]:
        self.put_calls.append(list(requests))
        results: list[PutResult] = []
        for request in requests:
            planned = self.script.get(request.key[1])
            if planned:
                status = planned.pop(0)
                results.append(PutResult(request, status, error=f"scripted {status}", requests=1))
            else:
                results.extend(self.inner.put_if_newer([request], allow_equal=allow_equal))
        return results


@pytest.fixture(autouse=True)
def no_pause() -> Iterator[None]:
    outage.resume()
    yield
    outage.resume()


@pytest.fixture
def catalogue(au: Market, de: Market) -> list[ContentItem]:
    TagFactory(slug="ocean")
    return [ContentItemFactory(upstream_id=f"c-{n}", tag_slugs=["ocean"]) for n in range(5)]


def open_rows() -> list[tuple[str, str, str]]:
    return list(
        OutboxEntry.objects.exclude(status=OutboxStatus.PUBLISHED).values_list("kind", "key", "status")
    )


def test_a_drain_publishes_every_kind_and_marks_the_rows(
    local_tables: SharedTables, au: Market, catalogue: list[ContentItem], editor: User
) -> None:
    # Given a rule, a position and a tag change, each with its outbox row
    rule_create(actor=None, market=au, action="hide", match_tags=["ocean"])
    position_set(actor=None, market=au, item=catalogue[0], change=PositionChange(state="pinned", slot=1))
    item_tags_update(actor=editor, item=catalogue[1], remove=["ocean"])

    # When the outbox is drained
    result = drain()

    # Then every row is published and every item is in its table, valid per the schemas
    assert open_rows() == []
    assert result.written == result.items and result.dead == result.retrying == 0
    market = local_tables.get_item("markets", ("AU",))
    position = local_tables.get_item("positions", ("AU", "c-0"))
    content = local_tables.get_item("content", ("c-1",))
    assert market and position and content
    assert_schema_valid("markets", [market])
    assert_schema_valid("positions", [position])
    assert_schema_valid("content", [content])
    assert market["version"] == Market.objects.get(code="AU").version
    assert (position["state"], position["slot"]) == ("pinned", 1)
    assert content["tags"] == []
    assert OutboxEntry.objects.filter(published_at__isnull=True).count() == 0


def test_rows_are_coalesced_to_one_put_per_item_at_its_newest_version(
    local_tables: SharedTables, au: Market, catalogue: list[ContentItem]
) -> None:
    # Given five successive changes to one position (five outbox rows)
    for boost in range(1, 6):
        position_set(
            actor=None, market=au, item=catalogue[0], change=PositionChange(state="promoted", boost=boost)
        )
    scripted = ScriptedTables(local_tables, {})

    # When the outbox is drained
    result = drain(tables=scripted)

    # Then one put carried version 5, and all five rows are done
    assert [[r.item["version"] for r in call] for call in scripted.put_calls] == [[5]]
    assert (result.rows, result.items, result.written, result.requests) == (5, 1, 1, 1)
    assert local_tables.get_item("positions", ("AU", "c-0"))["boost"] == 5  # type: ignore[index]
    assert open_rows() == []


def test_a_batch_costs_a_constant_number_of_queries(
    local_tables: SharedTables,
    au: Market,
    de: Market,
    catalogue: list[ContentItem],
    django_assert_max_num_queries: Any,
) -> None:
    # Given 10 positions and 2 markets waiting
    positions_bulk_set(
        actor=None,
        markets=[au, de],
        item_ids=[i.pk for i in catalogue],
        change=PositionChange(state="hidden"),
    )
    market_update(actor=None, market=au, name="Australia!")
    market_update(actor=None, market=de, name="Deutschland")

    # When they are drained in one batch: last id, any dead letters?, select, 2 builds (the
    # markets' with their groups in two), 1 update; on PostgreSQL the batch's rows are claimed in
    # a transaction of their own (a savepoint and its release inside the test's transaction)
    from django.db import connection

    claims = 2 if connection.features.has_select_for_update_skip_locked else 0
    with django_assert_max_num_queries(7 + claims):
        result = drain()

    # Then everything is published
    assert result.written == result.items == 12
    assert open_rows() == []


def test_a_late_outbox_row_does_not_bring_back_an_older_version(
    local_tables: SharedTables, au: Market, catalogue: list[ContentItem]
) -> None:
    # Given a position published at version 2
    position_set(actor=None, market=au, item=catalogue[0], change=PositionChange(state="hidden"))
    position_set(actor=None, market=au, item=catalogue[0], change=PositionChange(state="shown"))
    drain()

    # When a stale outbox row for version 1 turns up again (a replay)
    outbox_enqueue(kind=OutboxKind.POSITION, key="AU|c-0", version=1)
    result = drain()

    # Then it counts as done and the table keeps version 2
    assert (result.superseded, result.written) == (1, 0)
    assert local_tables.get_item("positions", ("AU", "c-0"))["state"] == "shown"  # type: ignore[index]
    assert open_rows() == []


def test_a_row_whose_source_is_gone_is_done(local_tables: SharedTables, au: Market) -> None:
    # Given an outbox row for a content item deleted outside the services
    outbox_enqueue(kind=OutboxKind.CONTENT, key="deleted-item", version=3)

    # When drained, then nothing is written and the row is closed
    result = drain()
    assert (result.gone, result.written) == (1, 0)
    assert open_rows() == []


def test_throttled_items_back_off_then_become_dead_letters_then_retry(
    local_tables: SharedTables, settings: Any, au: Market, catalogue: list[ContentItem], admin_user: User
) -> None:
    # Given a position whose puts keep being throttled, and two attempts allowed
    settings.SHARED_TABLES_MAX_ATTEMPTS = 2
    position_set(actor=None, market=au, item=catalogue[0], change=PositionChange(state="hidden"))
    position_set(actor=None, market=au, item=catalogue[1], change=PositionChange(state="hidden"))
    scripted = ScriptedTables(local_tables, {("AU", "c-0"): [PutStatus.RETRYABLE] * 3})

    # When the outbox is drained
    first = drain(tables=scripted)

    # Then the other item is published and the throttled one waits, with its error and a delay
    row = OutboxEntry.objects.get(key="AU|c-0")
    assert (first.written, first.retrying) == (1, 1)
    assert (row.status, row.attempts) == (OutboxStatus.PENDING, 1)
    assert "scripted" in row.last_error
    assert row.next_attempt_at is not None and row.next_attempt_at > timezone.now()

    # And a drain before the delay leaves it alone
    assert drain(tables=scripted).rows == 0

    # When the delay has passed and it fails again, it is a dead letter
    OutboxEntry.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    second = drain(tables=scripted)
    row.refresh_from_db()
    assert (second.dead, row.status, row.attempts) == (1, OutboxStatus.DEAD, 2)
    assert local_tables.get_item("positions", ("AU", "c-0")) is None

    # When an admin retries it (and the tables recovered), it is published
    scripted.script.clear()
    assert dead_letters_retry(actor=admin_user, entry_ids=[row.pk]) == 1
    drain(tables=scripted)
    row.refresh_from_db()
    assert row.status == OutboxStatus.PUBLISHED
    assert local_tables.get_item("positions", ("AU", "c-0"))["state"] == "hidden"  # type: ignore[index]


def test_a_newer_publish_closes_the_dead_letters_it_covers(
    local_tables: SharedTables, au: Market, catalogue: list[ContentItem]
) -> None:
    # Given a position change that became a dead letter, and a later change of the same position
    position_set(actor=None, market=au, item=catalogue[0], change=PositionChange(state="hidden"))
    OutboxEntry.objects.update(status=OutboxStatus.DEAD, last_error="throttled")
    newer_dead_elsewhere = OutboxEntry.objects.create(
        kind=OutboxKind.POSITION, key="AU|c-1", version=1, status=OutboxStatus.DEAD
    )
    position_set(actor=None, market=au, item=catalogue[0], change=PositionChange(state="shown"))

    # When the later change is published
    drain()

    # Then the dead letter it includes is closed (its error kept), and another item's is not
    assert list(OutboxEntry.objects.filter(key="AU|c-0").values_list("status", "last_error")) == [
        (OutboxStatus.PUBLISHED, "throttled"),
        (OutboxStatus.PUBLISHED, ""),
    ]
    newer_dead_elsewhere.refresh_from_db()
    assert newer_dead_elsewhere.status == OutboxStatus.DEAD


def test_an_item_the_tables_refuse_is_a_dead_letter_at_once(
    local_tables: SharedTables, au: Market, admin_user: User
) -> None:
    # Given an ingested item with so many tags that its content item exceeds 400 KB
    tags = tuple(f"tag-{n:05d}-{'x' * 50}" for n in range(7000))
    content_upsert_bulk(
        actor=None,
        rows=[
            ContentRow(
                upstream_id="huge",
                content_type="article",
                title="Everything",
                source="s",
                language="en",
                published_at=timezone.now(),
                tags=tags,
            )
        ],
    )

    # When drained
    result = drain()

    # Then it is a dead letter after one attempt, with a clear error, and nothing crashed
    row = OutboxEntry.objects.get(key="huge")
    assert (result.dead, row.status, row.attempts) == (1, OutboxStatus.DEAD, 1)
    assert "400 KB" in row.last_error
    assert local_tables.get_item("content", ("huge",)) is None


def test_an_outage_counts_no_attempt_and_pauses_on_commit_publishing(
    local_tables: SharedTables, au: Market, catalogue: list[ContentItem]
) -> None:
    # Given tables that cannot be reached
    position_set(actor=None, market=au, item=catalogue[0], change=PositionChange(state="hidden"))
    down = ScriptedTables(local_tables, {("AU", "c-0"): [PutStatus.UNAVAILABLE]})

    # When the outbox is drained
    result = drain(tables=down)

    # Then the row stays pending and due, with the error but no attempt counted
    row = OutboxEntry.objects.get(key="AU|c-0")
    assert result.unavailable
    assert (row.status, row.attempts, row.next_attempt_at) == (OutboxStatus.PENDING, 0, None)
    assert "unreachable" in row.last_error
    # And publishing after commit pauses (the sweep keeps probing)
    assert outage.outage_paused()

    # When the tables are back, the sweep publishes it and lifts the pause
    assert drain().written == 1
    assert not outage.outage_paused()


def test_publish_soon_does_nothing_while_paused(
    local_tables: SharedTables, au: Market, catalogue: list[ContentItem], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a pause after an outage
    monkeypatch.setattr(outage, "_paused_until", float("inf"))
    position_set(actor=None, market=au, item=catalogue[0], change=PositionChange(state="hidden"))

    # When a commit asks to publish, then nothing is attempted
    publish_soon()
    assert open_rows() == [("position", "AU|c-0", "pending")]


def test_rows_of_a_kind_without_builder_wait_visibly(
    local_tables: SharedTables, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an image row while no image builder is registered (a deploy of half a feature)
    monkeypatch.setattr(
        "portal.shared_tables.items._BUILDERS", {k: b for k, b in _BUILDERS.items() if k != OutboxKind.IMAGE}
    )
    outbox_enqueue(kind=OutboxKind.IMAGE, key="img-1", version=1)

    # When drained
    result = drain()

    # Then it waits an hour, saying why, without counting an attempt
    row = OutboxEntry.objects.get(key="img-1")
    assert result.waiting == 1
    assert (row.status, row.attempts) == (OutboxStatus.PENDING, 0)
    assert "No item builder" in row.last_error
    assert row.next_attempt_at is not None and row.next_attempt_at > timezone.now() + timedelta(minutes=59)


def test_another_area_can_register_a_builder(
    local_tables: SharedTables, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an image builder registered the way the images work does
    monkeypatch.setattr("portal.shared_tables.items._BUILDERS", dict(_BUILDERS))
    register_builder(
        ItemBuilder(
            kind=OutboxKind.IMAGE,
            table="images",
            build=lambda keys: {k: {"image_id": k, "version": 1, "blocked_markets": ["DE"]} for k in keys},
            db_keys=lambda market: iter(()),
            key_of=lambda item: str(item["image_id"]),
            market_scoped=False,
        )
    )
    outbox_enqueue(kind=OutboxKind.IMAGE, key="img-1", version=1)

    # When drained, then its items land in the images table
    assert drain().written == 1
    assert local_tables.get_item("images", ("img-1",)) == {
        "image_id": "img-1",
        "version": 1,
        "blocked_markets": ["DE"],
    }


def test_publishing_after_commit_runs_inline_locally(
    local_tables: SharedTables,
    au: Market,
    catalogue: list[ContentItem],
    django_capture_on_commit_callbacks: Any,
) -> None:
    # Given publishing on commit (the test settings keep it on)
    # When an editor's change commits
    with django_capture_on_commit_callbacks(execute=True):
        position_set(actor=None, market=au, item=catalogue[0], change=PositionChange(state="hidden"))

    # Then it is already in the shared tables
    assert local_tables.get_item("positions", ("AU", "c-0"))["state"] == "hidden"  # type: ignore[index]
    assert open_rows() == []


def test_publishing_on_commit_can_be_switched_off(
    local_tables: SharedTables,
    settings: Any,
    au: Market,
    catalogue: list[ContentItem],
    django_capture_on_commit_callbacks: Any,
) -> None:
    # Given publishing on commit switched off
    settings.SHARED_TABLES_PUBLISH_ON_COMMIT = False

    # When a change commits, then its row waits for the sweep
    with django_capture_on_commit_callbacks(execute=True):
        position_set(actor=None, market=au, item=catalogue[0], change=PositionChange(state="hidden"))
    assert open_rows() == [("position", "AU|c-0", "pending")]


def test_on_lambda_publishing_is_a_zappa_async_task(
    local_tables: SharedTables,
    au: Market,
    catalogue: list[ContentItem],
    monkeypatch: pytest.MonkeyPatch,
    settings: Any,
) -> None:
    # Given the code runs on Lambda, where Zappa invokes tasks asynchronously
    from zappa import asynchronous

    sent: list[tuple[str, Any, Any]] = []

    class FakeLambdaAsync:
        def __init__(self, **kwargs: Any) -> None:
            pass

        def send(self, task_path: str, args: Any, kwargs: Any) -> None:
            sent.append((task_path, args, kwargs))

    settings.ON_LAMBDA = True
    monkeypatch.setitem(asynchronous.ASYNC_CLASSES, "lambda", FakeLambdaAsync)
    position_set(actor=None, market=au, item=catalogue[0], change=PositionChange(state="hidden"))

    # When a commit asks to publish
    publish_soon()

    # Then an async invocation of the publish task is sent, and nothing ran inline
    assert sent == [("portal.shared_tables.publisher.publish_task", (), {})]
    assert open_rows() == [("position", "AU|c-0", "pending")]

    # And when Lambda runs that task (as Zappa's handler does), the outbox is drained
    outcome = asynchronous.run_message({"task_path": sent[0][0], "args": [], "kwargs": {}})
    assert json.loads(json.dumps(outcome))["written"] == 1
    assert open_rows() == []


def test_retry_delays_grow_exponentially_with_jitter_and_a_cap(settings: Any) -> None:
    settings.SHARED_TABLES_RETRY_BASE_SECONDS = 2.0
    settings.SHARED_TABLES_RETRY_CAP_SECONDS = 60.0
    for attempts, ceiling in [(1, 2.0), (2, 4.0), (3, 8.0), (5, 32.0), (6, 60.0), (20, 60.0)]:
        delays = [retry_delay(attempts) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1
    assert settings.ON_LAMBDA is False
    assert Position.objects.count() == 0
