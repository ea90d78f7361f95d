"""Ingestion upserts by upstream id, and editors' tags that survive re-ingestion."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from accounts.access import AccessDenied
from accounts.models import User
from content.models import ContentItem, Tag
from content.services import (
    BulkValidationError,
    ContentRow,
    content_upsert_bulk,
    item_tags_update,
    tag_create,
)
from portal.audit.models import AuditEntry
from portal.shared_tables.items import build_content
from portal.shared_tables.models import OutboxEntry

pytestmark = pytest.mark.django_db


def row(n: int, **overrides: object) -> ContentRow:
    base = ContentRow(
        upstream_id=f"up-{n}",
        content_type="video",
        title=f"Ocean story {n}",
        source="natgeo-tv",
        language="en",
        published_at=datetime(2026, 3, 1, tzinfo=UTC),
        tags=("ocean", "Wildlife"),
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def tags_of(upstream_id: str) -> list[str]:
    return sorted(ContentItem.objects.get(upstream_id=upstream_id).tags.values_list("slug", flat=True))


def test_upsert_creates_items_tags_and_outbox(editor: User) -> None:
    result = content_upsert_bulk(actor=editor, rows=[row(1), row(2)])
    assert sorted(result.created) == ["up-1", "up-2"]
    assert tags_of("up-1") == ["ocean", "wildlife"]
    assert Tag.objects.get(slug="wildlife").label == "Wildlife"
    assert OutboxEntry.objects.filter(kind="content").count() == 2
    assert AuditEntry.objects.filter(action="content.create").count() == 2


def test_repeating_an_upsert_changes_nothing(editor: User) -> None:
    content_upsert_bulk(actor=editor, rows=[row(1), row(2)])
    outbox_before = OutboxEntry.objects.count()
    result = content_upsert_bulk(actor=editor, rows=[row(1), row(2)])
    assert sorted(result.unchanged) == ["up-1", "up-2"] and not result.created and not result.updated
    assert OutboxEntry.objects.count() == outbox_before
    assert ContentItem.objects.get(upstream_id="up-1").version == 1


def test_update_of_published_fields_grows_the_version(editor: User) -> None:
    content_upsert_bulk(actor=editor, rows=[row(1)])
    result = content_upsert_bulk(actor=editor, rows=[row(1, tags=("ocean", "space"))])
    assert result.updated == ["up-1"]
    item = ContentItem.objects.get(upstream_id="up-1")
    assert item.version == 2
    assert tags_of("up-1") == ["ocean", "space"]
    # a title fix is saved but readers' item (tags, type, source) is unchanged
    content_upsert_bulk(actor=editor, rows=[row(1, title="Fixed title", tags=("ocean", "space"))])
    assert ContentItem.objects.get(upstream_id="up-1").version == 2


def test_reingestion_moves_updated_at_with_the_version_in_the_row_and_the_shared_item(
    editor: User, time_machine: Any
) -> None:
    # Given an item ingested at T0
    t0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
    time_machine.move_to(t0, tick=False)
    content_upsert_bulk(actor=editor, rows=[row(1)])

    # When it is ingested again an hour later with other tags (a new version)
    time_machine.move_to(t0 + timedelta(hours=1), tick=False)
    content_upsert_bulk(actor=editor, rows=[row(1, tags=("ocean", "space"))])

    # Then the row and the shared `content` item say when, next to the new version
    item = ContentItem.objects.get(upstream_id="up-1")
    assert item.version == 2
    assert item.updated_at == t0 + timedelta(hours=1)
    shared = build_content(["up-1"])["up-1"]
    assert shared["version"] == 2
    assert shared["updated_at"].startswith("2026-03-02T07:00:00")


def test_one_bad_row_writes_nothing_and_names_every_error(editor: User) -> None:
    rows = [
        row(1),
        row(2, content_type="podcast"),
        row(3, published_at=datetime(1800, 1, 1, tzinfo=UTC)),
        row(4, url="not a url", language="english!"),
        row(1),
    ]
    with pytest.raises(BulkValidationError) as error:
        content_upsert_bulk(actor=editor, rows=rows)
    errors = error.value.row_errors
    assert set(errors) == {1, 2, 3, 4}
    assert "content_type" in errors[1]
    assert "published_at" in errors[2]
    assert {"url", "language"} <= set(errors[3])
    assert "Duplicate of row 0" in errors[4]["upstream_id"][0]
    assert not ContentItem.objects.exists()
    assert not Tag.objects.exists()


def test_more_than_a_thousand_rows_are_refused(editor: User) -> None:
    with pytest.raises(ValidationError):
        content_upsert_bulk(actor=editor, rows=[row(n) for n in range(1001)])


def test_market_manager_and_reviewer_may_not_ingest(au_manager: User, reviewer: User) -> None:
    for actor in (au_manager, reviewer):
        with pytest.raises(AccessDenied):
            content_upsert_bulk(actor=actor, rows=[row(1)])
    assert not ContentItem.objects.exists()


def test_editor_tags_survive_reingestion(editor: User) -> None:
    content_upsert_bulk(actor=editor, rows=[row(1)])
    tag_create(actor=editor, slug="hunting", label="Hunting")
    item = ContentItem.objects.get(upstream_id="up-1")
    item = item_tags_update(actor=editor, item=item, add=["hunting"], remove=["wildlife"])
    assert tags_of("up-1") == ["hunting", "ocean"]
    assert item.version == 2
    assert OutboxEntry.objects.filter(kind="content", key="up-1", version=2).exists()
    # upstream sends the item again with its original tags: the editors' edits still apply
    content_upsert_bulk(actor=editor, rows=[row(1, summary="new summary")])
    assert tags_of("up-1") == ["hunting", "ocean"]
    entry = AuditEntry.objects.get(action="content.tags")
    assert entry.before == {"tags": ["ocean", "wildlife"]}


def test_unknown_tags_are_refused(editor: User) -> None:
    content_upsert_bulk(actor=editor, rows=[row(1)])
    item = ContentItem.objects.get(upstream_id="up-1")
    with pytest.raises(ValidationError) as error:
        item_tags_update(actor=editor, item=item, add=["no-such-tag"])
    assert "Unknown tag" in error.value.message_dict["tags"][0]


def test_market_manager_may_not_tag(editor: User, au_manager: User) -> None:
    content_upsert_bulk(actor=editor, rows=[row(1)])
    with pytest.raises(AccessDenied):
        item_tags_update(actor=au_manager, item=ContentItem.objects.get(), add=["ocean"])
