"""Integration against a real moto server: tables, items per the JSON Schemas, order-proof writes, and
the fault test (an outage during 1,000 changes loses nothing)."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta
from typing import Any

import boto3
import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.models import User
from content.models import ContentItem
from content.services import (
    ContentRow,
    PositionChange,
    content_upsert_bulk,
    item_tags_update,
    position_set,
)
from markets.models import Market, Rule
from markets.services import market_update, rule_create, rule_update
from portal.shared_tables import config, outage
from portal.shared_tables.items import build_positions
from portal.shared_tables.models import OutboxEntry, OutboxKind, OutboxStatus
from portal.shared_tables.outbox import outbox_enqueue_many
from portal.shared_tables.publisher import drain
from portal.shared_tables.reconcile import reconcile
from positioning.tables import KEY_ATTRIBUTES, PutRequest, SharedTables
from tests.factories import ContentItemFactory, TagFactory
from tests.shared_tables.conftest import MotoEndpoint, assert_schema_valid


def every_item(tables: SharedTables) -> dict[str, list[dict[str, Any]]]:
    return {table: list(tables.scan(table)) for table in KEY_ATTRIBUTES}


def assert_tables_valid(tables: SharedTables) -> dict[str, list[dict[str, Any]]]:
    items = every_item(tables)
    for table in ("markets", "positions", "content"):
        assert_schema_valid(table, items[table])
    return items


@pytest.mark.django_db
def test_create_makes_on_demand_tables_with_the_contracts_keys(
    moto_env: MotoEndpoint, settings: Any, dynamodb_tables: SharedTables
) -> None:
    # Given a prefix with no tables yet
    settings.SHARED_TABLES_PREFIX = "meridian-it-"
    config.forget()

    # When `manage.py shared_tables create` runs against the moto server
    call_command("shared_tables", "create", stdout=None)

    # Then DynamoDB (as boto3 sees it) has the four tables, on demand, keyed as documented
    client = boto3.client("dynamodb")
    # ListTables answers 100 names a page, and the session's moto server holds other tests' tables.
    pages = client.get_paginator("list_tables").paginate()
    names = [n for page in pages for n in page["TableNames"] if n.startswith("meridian-it-")]
    assert sorted(names) == [
        "meridian-it-content",
        "meridian-it-images",
        "meridian-it-markets",
        "meridian-it-positions",
    ]
    for table, keys in KEY_ATTRIBUTES.items():
        description = client.describe_table(TableName=f"meridian-it-{table}")["Table"]
        assert description["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        assert [k["AttributeName"] for k in description["KeySchema"]] == list(keys)


@pytest.mark.django_db(transaction=True)
def test_changes_through_the_services_land_as_schema_valid_items(
    dynamodb_tables: SharedTables, au: Market, optus: Market, editor: User
) -> None:
    # Given items, then changes of every kind made through the services (published after commit)
    TagFactory(slug="ocean")
    items = [ContentItemFactory(upstream_id=f"c-{n}", tag_slugs=["ocean"]) for n in range(4)]
    rule_create(actor=None, market=au, action="promote", match_tags=["ocean"], boost=2, note="Ocean Week")
    market_update(actor=None, market=optus, languages=["en", "fr"])
    position_set(actor=None, market=au, item=items[0], change=PositionChange(state="pinned", slot=3))
    position_set(
        actor=None,
        market=optus,
        item=items[1],
        change=PositionChange(
            state="shown", starts_at=timezone.now(), ends_at=timezone.now() + timedelta(days=7)
        ),
    )
    item_tags_update(actor=editor, item=items[2], remove=["ocean"])

    # Then every change is already in the tables (inline publishing), and every item is schema-valid
    assert not OutboxEntry.objects.exclude(status=OutboxStatus.PUBLISHED).exists()
    stored = assert_tables_valid(dynamodb_tables)
    assert {i["market"] for i in stored["markets"]} == {"AU", "AU-OPTUS"}
    assert len(stored["positions"]) == 2 and stored["content"][0]["tags"] == []
    assert reconcile(market="AU").clean


@pytest.mark.django_db
def test_a_stale_version_never_overwrites_a_newer_one(dynamodb_tables: SharedTables, au: Market) -> None:
    # Given a position published at version 3
    item = ContentItemFactory(upstream_id="c-1")
    for state in ("hidden", "shown", "promoted"):
        position_set(
            actor=None,
            market=au,
            item=item,
            change=PositionChange(state=state, boost=4 if state == "promoted" else 0),
        )
    drain()

    # When an older version arrives late, both through the pipeline and as a raw conditional put
    outbox_enqueue_many(kind=OutboxKind.POSITION, entries=[("AU|c-1", 1)])
    result = drain()
    old = build_positions(["AU|c-1"])["AU|c-1"] | {"version": 1, "state": "hidden", "boost": 0}
    raw = dynamodb_tables.put_if_newer([PutRequest("positions", old)])

    # Then both are refused by the condition, and version 3 stays
    assert result.superseded == 1 and raw[0].done and raw[0].status == "superseded"
    stored = dynamodb_tables.get_item("positions", ("AU", "c-1"))
    assert stored is not None and (stored["version"], stored["state"], stored["boost"]) == (3, "promoted", 4)


@pytest.mark.django_db
def test_duplicates_are_harmless(dynamodb_tables: SharedTables, au: Market) -> None:
    # Given ten positions published
    items = [ContentItemFactory(upstream_id=f"c-{n}") for n in range(10)]
    for item in items:
        position_set(actor=None, market=au, item=item, change=PositionChange(state="hidden"))
    drain()
    before = every_item(dynamodb_tables)

    # When a second publisher that read the same rows publishes them again
    OutboxEntry.objects.update(status=OutboxStatus.PENDING)
    again = drain()

    # Then every put is superseded, the rows are done and the tables are unchanged
    assert (again.superseded, again.written) == (10, 0)
    assert not OutboxEntry.objects.exclude(status=OutboxStatus.PUBLISHED).exists()
    assert every_item(dynamodb_tables) == before


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_an_outage_during_1000_changes_loses_nothing(
    dynamodb_tables: SharedTables,
    moto_env: MotoEndpoint,
    settings: Any,
    au: Market,
    de: Market,
    editor: User,
    admin_user: User,
) -> None:
    # Given 300 items and a publisher that gives up on an unreachable endpoint quickly
    settings.SHARED_TABLES_CLIENT_MAX_ATTEMPTS = 2
    settings.SHARED_TABLES_CONNECT_TIMEOUT = 1.0
    settings.SHARED_TABLES_OUTAGE_PAUSE = 120
    config.forget()
    tables = config.shared_tables()
    outage.resume()
    for slug in ("ocean", "hunting"):
        TagFactory(slug=slug)
    items = [ContentItemFactory(upstream_id=f"c-{n:03d}", tag_slugs=["ocean"]) for n in range(300)]
    outbox_enqueue_many(kind=OutboxKind.CONTENT, entries=[(i.upstream_id, i.version) for i in items])
    outbox_enqueue_many(kind=OutboxKind.MARKET, entries=[("AU", au.version), ("DE", de.version)])
    drain()

    # When DynamoDB goes away and users make 1,000 changes through the services
    moto_env.stop()
    started = time.monotonic()
    states = ["hidden", "shown", "promoted"]
    changed = 0
    for n, item in enumerate(items):  # 600 position changes
        for market in (au, de):
            state = states[n % 3]
            position = position_set(
                actor=editor,
                market=market,
                item=item,
                change=PositionChange(state=state, boost=n % 7 + 1 if state == "promoted" else 0),
            )
            assert position.version == 1
            changed += 1
    for item in items[:200]:  # 200 tag changes
        item_tags_update(actor=editor, item=item, add=["hunting"])
        changed += 1
    # (each its own source: an identical rule would be refused as a repeat)
    rules = [
        rule_create(
            actor=admin_user, market=au, action="hide", match_tags=["hunting"], match_sources=[f"s-{n}"]
        )
        for n in range(100)
    ]
    for rule in rules[:50]:  # 100 rule creations and 50 updates
        rule_update(actor=admin_user, rule=rule, note="legal review")
    changed += 150
    for n in range(50):  # 50 market settings changes
        market_update(actor=admin_user, market=de if n % 2 else au, name=f"Name {n}")
    changed += 50
    outage_seconds = time.monotonic() - started

    # Then every change succeeded for its user, nothing was dropped, and nothing is dead
    assert changed == 1000
    open_rows = OutboxEntry.objects.exclude(status=OutboxStatus.PUBLISHED)
    assert open_rows.filter(status=OutboxStatus.DEAD).count() == 0
    assert open_rows.count() == 1000
    assert set(open_rows.values_list("attempts", flat=True)) == {0}
    # And after the first failed publish, publishing after commit paused instead of slowing every change
    assert outage.outage_paused()
    assert outage_seconds < 120

    # When DynamoDB is back and the minute sweep runs
    moto_env.start()
    call_command("shared_tables", "publish", stdout=None)

    # Then every change is in the tables, valid, matching the database, and no dead letter is left
    assert not OutboxEntry.objects.exclude(status=OutboxStatus.PUBLISHED).exists()
    report = reconcile()
    assert report.clean, list(report.lines())
    stored = assert_tables_valid(tables)
    assert len(stored["positions"]) == 600
    assert sum(1 for i in stored["content"] if "hunting" in i["tags"]) == 200
    au_item = tables.get_item("markets", ("AU",))
    assert au_item is not None and len(au_item["rules"]) == Rule.objects.filter(market=au).count() == 100
    assert not outage.outage_paused()

    # When an item fails for good (its tags exceed DynamoDB's 400 KB item limit)
    huge = tuple(f"tag-{n:05d}-{'x' * 50}" for n in range(7000))
    row = ContentRow(
        upstream_id="huge",
        content_type="article",
        title="Everything",
        source="s",
        language="en",
        published_at=timezone.now(),
        tags=huge,
    )
    content_upsert_bulk(actor=None, rows=[row])

    # Then it is a visible dead letter, and nothing else is affected
    dead = OutboxEntry.objects.get(key="huge")
    assert dead.status == OutboxStatus.DEAD and "400 KB" in dead.last_error
    assert tables.get_item("content", ("huge",)) is None

    # When ingestion fixes the item (publishing after commit off: the retry does the work) and it is retried
    settings.SHARED_TABLES_PUBLISH_ON_COMMIT = False
    content_upsert_bulk(actor=None, rows=[replace(row, tags=huge[:5])])
    call_command("shared_tables", "retry", "--all", stdout=None)

    # Then it is published and no dead letter is left
    assert not OutboxEntry.objects.exclude(status=OutboxStatus.PUBLISHED).exists()
    stored_huge = tables.get_item("content", ("huge",))
    assert stored_huge is not None and len(stored_huge["tags"]) == 5
    assert stored_huge["version"] == ContentItem.objects.get(upstream_id="huge").version
