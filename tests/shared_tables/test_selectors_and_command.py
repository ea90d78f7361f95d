"""Publish status for the dashboard and the market page, and `manage.py shared_tables`."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from content.models import ContentItem
from content.services import PositionChange, position_set
from markets.models import Market
from markets.services import market_update
from portal.shared_tables import config
from portal.shared_tables.models import OutboxEntry, OutboxKind, OutboxStatus
from portal.shared_tables.publisher import drain
from portal.shared_tables.selectors import market_publish_state, publish_status
from positioning.tables import SharedTables, TablesUnavailable
from tests.factories import ContentItemFactory

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command("shared_tables", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def item(au: Market) -> ContentItem:
    return ContentItemFactory(upstream_id="c-1")


def test_publish_status_counts_open_rows_in_one_or_two_queries(
    local_tables: SharedTables, au: Market, item: ContentItem, django_assert_max_num_queries: Any
) -> None:
    # Given one pending change and one dead letter
    position_set(actor=None, market=au, item=item, change=PositionChange(state="hidden"))
    OutboxEntry.objects.create(
        kind="content", key="x", version=1, status=OutboxStatus.DEAD, last_error="boom"
    )

    # When the status is read
    with django_assert_max_num_queries(2):
        status = publish_status()

    # Then it counts both and names the latest error
    assert (status.pending, status.dead, status.failing, status.last_error) == (1, 1, True, "boom")
    assert status.oldest_pending_at is not None


def test_a_markets_publish_state_follows_its_changes(
    local_tables: SharedTables, settings: Any, au: Market, de: Market, item: ContentItem
) -> None:
    # Given AU never published
    state = market_publish_state(au)
    assert (state.published_version, state.label) == (None, "Not published yet")

    # When AU's settings and one of its positions change without publishing (and DE changes too)
    settings.SHARED_TABLES_PUBLISH_ON_COMMIT = False
    market_update(actor=None, market=au, name="Australia!")
    position_set(actor=None, market=au, item=item, change=PositionChange(state="hidden"))
    market_update(actor=None, market=de, name="Deutschland")
    au.refresh_from_db()

    # Then AU shows two unpublished changes (DE's do not count)
    state = market_publish_state(au)
    assert (state.pending, state.up_to_date, state.label) == (2, False, "2 change(s) not yet published")

    # When everything is published, then AU is up to date at its saved version
    drain()
    state = market_publish_state(au)
    assert (state.up_to_date, state.published_version, state.label) == (True, au.version, "Published")

    # And when a publish fails for good, the state says so
    OutboxEntry.objects.create(kind=OutboxKind.POSITION, key="AU|c-1", version=9, status=OutboxStatus.DEAD)
    assert market_publish_state(au).label.startswith("Publishing failed for 1 change")


def test_the_market_state_survives_unreadable_tables(
    local_tables: SharedTables, au: Market, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given tables that cannot be read
    def down(*args: Any) -> None:
        raise TablesUnavailable("timeout")

    monkeypatch.setattr(local_tables, "get_item", down)

    # When the market page asks, then it gets an answer rather than an error
    state = market_publish_state(au)
    assert state.read_error == "timeout"
    assert "cannot be read" in state.label


def test_create_reports_the_tables(dynamodb_tables: SharedTables, settings: Any) -> None:
    # Given fresh prefix on DynamoDB (moto)
    settings.SHARED_TABLES_PREFIX = settings.SHARED_TABLES_PREFIX + "cmd-"
    config.forget()

    # When create runs twice
    first, second = run("create"), run("create")

    # Then the four tables are created once
    assert first.count("Created ") == 4 and "dynamodb" in first
    assert "0 table(s) created" in second


def test_publish_status_retry_and_prune(local_tables: SharedTables, au: Market, item: ContentItem) -> None:
    # Given a pending change and a dead letter whose item exists
    position_set(actor=None, market=au, item=item, change=PositionChange(state="hidden"))
    dead = OutboxEntry.objects.create(kind=OutboxKind.MARKET, key="AU", version=1, status=OutboxStatus.DEAD)

    # Then status shows them; publish sends the pending one
    assert "Pending: 1" in run("status") and "Dead letters: 1" in run("status")
    assert "1 written" in run("publish")

    # And retry --id sends the dead letter
    assert "1 dead letter(s) queued again" in run("retry", "--id", str(dead.pk))
    dead.refresh_from_db()
    assert dead.status == OutboxStatus.PUBLISHED
    assert local_tables.get_item("markets", ("AU",)) is not None
    assert "0 dead letter(s)" in run("retry", "--all")

    # And prune keeps recent published rows
    assert "Deleted 0" in run("prune", "--days", "1")
    with pytest.raises(CommandError):
        run("prune", "--days", "0")


def test_reconcile_command(local_tables: SharedTables, au: Market, item: ContentItem) -> None:
    # Given AU's position published, then lost from the table
    position_set(actor=None, market=au, item=item, change=PositionChange(state="hidden"))
    drain()
    local_tables.delete_if_version("positions", ("AU", "c-1"), 1)

    # When reconcile runs for AU, then it reports the drift; with --repair it fixes it
    assert "missing: AU|c-1" in run("reconcile", "--market", "au")
    assert "repaired 1" in run("reconcile", "--market", "AU", "--repair")
    assert "The tables match the database." in run("reconcile", "--market", "AU")
    with pytest.raises(CommandError, match="No market"):
        run("reconcile", "--market", "NZ")


def test_publish_fails_loudly_when_the_tables_are_unreachable(
    local_tables: SharedTables, au: Market, item: ContentItem, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a pending change and tables that refuse connections
    from portal.shared_tables import outage
    from positioning.tables import PutResult, PutStatus

    position_set(actor=None, market=au, item=item, change=PositionChange(state="hidden"))
    monkeypatch.setattr(
        local_tables,
        "put_if_newer",
        lambda requests, **kw: [PutResult(r, PutStatus.UNAVAILABLE, error="refused") for r in requests],
    )

    # When the sweep's command runs, then it fails (the scheduler logs it) and the row waits
    with pytest.raises(CommandError, match="unreachable"):
        run("publish")
    assert OutboxEntry.objects.get(key="AU|c-1").status == OutboxStatus.PENDING
    outage.resume()
