"""Writes for tags: create tags and change an item's tags (editors' additions and removals)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.access import Action, require
from accounts.models import User
from content.models import ContentItem, ItemTag, Tag, TagEdit, TagEditOp
from content.services.base import BATCH_SIZE
from portal.audit.services import AuditRecord, audit_record
from portal.bounds import ITEM_TAGS_MAX
from portal.shared_tables.models import OutboxKind
from portal.shared_tables.outbox import outbox_enqueue_many


def tag_create(*, actor: User | None, slug: str, label: str = "", via: str = "portal") -> Tag:
    """Create a tag (editors and admins). Raises AccessDenied; ValidationError on a bad slug."""
    if actor is not None:
        require(actor, Action.EDIT_TAGS)
    tag = Tag(slug=slug.strip().lower(), label=(label or slug).strip())
    tag.full_clean()
    with transaction.atomic():
        tag.save()
        audit_record(
            actor=actor,
            record=AuditRecord(
                action="tag.create", object_type="tag", object_id=tag.slug, object_repr=tag.label
            ),
            via=via,
        )
    return tag


def _effective_tag_ids(items: Sequence[ContentItem], slug_to_id: dict[str, int]) -> dict[int, set[int]]:
    """Return each item's effective tag ids: upstream tags plus editors' adds minus removes."""
    edits: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for item_id, tag_id, op in TagEdit.objects.filter(item__in=items).values_list("item_id", "tag_id", "op"):
        edits[item_id].append((tag_id, op))
    effective: dict[int, set[int]] = {}
    for item in items:
        tags = {slug_to_id[s] for s in item.upstream_tags if s in slug_to_id}
        for tag_id, op in edits.get(item.pk, ()):
            if op == TagEditOp.ADD:
                tags.add(tag_id)
            else:
                tags.discard(tag_id)
        effective[item.pk] = tags
    return effective


def _write_item_tags(effective: dict[int, set[int]]) -> None:
    ItemTag.objects.filter(item_id__in=list(effective)).delete()
    ItemTag.objects.bulk_create(
        (ItemTag(item_id=item_id, tag_id=tag_id) for item_id, tags in effective.items() for tag_id in tags),
        batch_size=BATCH_SIZE,
    )


def item_tags_update(
    *,
    actor: User | None,
    item: ContentItem,
    add: Sequence[str] = (),
    remove: Sequence[str] = (),
    via: str = "portal",
) -> ContentItem:
    """Add and remove tags on an item as an editor; the change survives re-ingestion.

    Raises AccessDenied unless `actor` may edit tags; ValidationError on unknown tags, a tag
    both added and removed, or more than ITEM_TAGS_MAX tags on the item.
    """
    if actor is not None:
        require(actor, Action.EDIT_TAGS)
    add_set, remove_set = {s.strip() for s in add if s.strip()}, {s.strip() for s in remove if s.strip()}
    if add_set & remove_set:
        raise ValidationError({"tags": f"Cannot add and remove {', '.join(sorted(add_set & remove_set))}."})
    tags = {t.slug: t for t in Tag.objects.filter(slug__in=add_set | remove_set)}
    unknown = sorted((add_set | remove_set) - set(tags))
    if unknown:
        raise ValidationError({"tags": f"Unknown tag(s): {', '.join(unknown)}."})
    with transaction.atomic():
        locked = ContentItem.objects.select_for_update().get(pk=item.pk)
        before = sorted(locked.tags.values_list("slug", flat=True))
        # The item's tags all go into its one shared `content` item: bound them like ingestion does.
        if len((set(before) | add_set) - remove_set) > ITEM_TAGS_MAX:
            raise ValidationError({"tags": f"An item may carry at most {ITEM_TAGS_MAX} tags."})
        for slug, op in [
            *((s, TagEditOp.ADD) for s in add_set),
            *((s, TagEditOp.REMOVE) for s in remove_set),
        ]:
            TagEdit.objects.update_or_create(
                item=locked, tag=tags[slug], defaults={"op": op, "author": actor}
            )
        slug_to_id = dict(
            Tag.objects.filter(slug__in=[*locked.upstream_tags, *tags]).values_list("slug", "id")
        )
        _write_item_tags(_effective_tag_ids([locked], slug_to_id))
        after = sorted(locked.tags.values_list("slug", flat=True))
        if after != before:
            locked.version += 1
            locked.save(update_fields=["version", "updated_at"])
            outbox_enqueue_many(kind=OutboxKind.CONTENT, entries=[(locked.upstream_id, locked.version)])
        audit_record(
            actor=actor,
            record=AuditRecord(
                action="content.tags",
                object_type="content",
                object_id=locked.upstream_id,
                object_repr=locked.title[:300],
                before={"tags": before},
                after={"tags": after, "added": sorted(add_set), "removed": sorted(remove_set)},
            ),
            via=via,
        )
    return locked
