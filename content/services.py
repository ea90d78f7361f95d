"""Writes for content: ingestion upserts, editors' tags and per-market positions.

Each service checks access first, then writes the change, its audit entries and outbox rows in
one transaction. Position writers lock the market rows they touch, so versions of one market's
positions grow without gaps or races (SQLite serialises writers anyway).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.text import slugify

from accounts.access import Action, can, require
from accounts.models import User
from content.models import ContentItem, ItemTag, Position, PositionState, Tag, TagEdit, TagEditOp
from markets.codes import language_error
from markets.models import Market
from portal.audit.services import AuditRecord, audit_bulk, audit_record
from portal.errors import Conflict
from portal.shared_tables.keys import position_key
from portal.shared_tables.models import OutboxKind
from portal.shared_tables.outbox import outbox_enqueue_many

BATCH_SIZE = 1000
MAX_UPSERT_ROWS = 1000
EARLIEST_PUBLISHED = datetime(1888, 1, 1, tzinfo=UTC)
POSITION_FIELDS = ("state", "boost", "slot", "section", "starts_at", "ends_at", "reason")


# --- positions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PositionChange:
    """What an editor asks for one or many (market, item) positions."""

    state: str
    boost: int = 0
    slot: int | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    reason: str = ""
    section: str = ""

    def validate(self) -> None:
        """Raise ValidationError with field errors when the change is not coherent."""
        errors: dict[str, str] = {}
        if self.state not in PositionState.values:
            errors["state"] = f"Choose one of {', '.join(PositionState.values)}."
        if self.state == PositionState.PROMOTED and not (1 <= self.boost <= 1000):
            errors["boost"] = "Promoting needs a boost between 1 and 1000."
        if self.state != PositionState.PROMOTED and self.boost:
            errors["boost"] = "Only promoted items have a boost."
        if self.state == PositionState.PINNED and not (self.slot and 1 <= self.slot <= 1000):
            errors["slot"] = "Pinning needs a slot between 1 and 1000."
        if self.state != PositionState.PINNED and self.slot is not None:
            errors["slot"] = "Only pinned items have a slot."
        for name in ("starts_at", "ends_at"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                errors[name] = "Give a time zone with the time."
        both_valid = "starts_at" not in errors and "ends_at" not in errors
        if self.starts_at and self.ends_at and both_valid and self.starts_at >= self.ends_at:
            errors["ends_at"] = "The window must end after it starts."
        if len(self.reason) > 500:
            errors["reason"] = "Keep the reason under 500 characters."
        if len(self.section) > 64:
            errors["section"] = "Keep the section under 64 characters."
        if errors:
            raise ValidationError(errors)

    def values(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "boost": self.boost,
            "slot": self.slot,
            "section": self.section,
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "reason": self.reason.strip(),
        }


@dataclass(frozen=True)
class Refusal:
    """Why a change was not made for one market (and item, where it is item-specific)."""

    market_code: str
    reason: str
    content_id: str = ""
    count: int = 1


@dataclass
class BulkResult:
    """The summary of a bulk position change."""

    changed: int = 0
    unchanged: int = 0
    refused: list[Refusal] = field(default_factory=list)
    batch: str = ""

    @property
    def refused_count(self) -> int:
        return sum(r.count for r in self.refused)


def _position_snapshot(position: Position | None) -> dict[str, Any] | None:
    if position is None:
        return None
    data: dict[str, Any] = {}
    for name in POSITION_FIELDS:
        value = getattr(position, name)
        data[name] = value.isoformat() if isinstance(value, datetime) else value
    data["version"] = position.version
    return data


def _windows_overlap(
    a_start: datetime | None, a_end: datetime | None, b_start: datetime | None, b_end: datetime | None
) -> bool:
    # [a_start, a_end) and [b_start, b_end) overlap unless one ends before the other starts.
    if a_end is not None and b_start is not None and a_end <= b_start:
        return False
    return not (b_end is not None and a_start is not None and b_end <= a_start)


def _lock_markets(markets: Iterable[Market]) -> None:
    # Ordered by pk so that two bulk writers never deadlock on each other's market rows.
    ids = sorted({m.pk for m in markets})
    list(Market.objects.select_for_update().filter(pk__in=ids).order_by("pk").values_list("pk"))


def _pin_conflict(pins: Sequence[Position], item_id: int, values: dict[str, Any]) -> Position | None:
    for pin in pins:
        if pin.item_id == item_id or pin.slot != values["slot"]:
            continue
        if _windows_overlap(pin.starts_at, pin.ends_at, values["starts_at"], values["ends_at"]):
            return pin
    return None


def position_set(
    *,
    actor: User | None,
    market: Market,
    item: ContentItem,
    change: PositionChange,
    expected_version: int | None = None,
    via: str = "portal",
) -> Position:
    """Set the position of `item` in `market` (hide, show, promote, pin or reset to default).

    Raises AccessDenied unless `actor` may edit positions in `market`; ValidationError on an
    incoherent change or a pin conflict; Conflict when `expected_version` is stale (0 means
    "there must be no position yet").
    """
    if actor is not None:
        require(actor, Action.EDIT_POSITIONS, market)
    change.validate()
    values = change.values()
    with transaction.atomic():
        _lock_markets([market])
        current = Position.objects.filter(market=market, item=item).first()
        stored_version = current.version if current else 0
        if expected_version is not None and expected_version != stored_version:
            raise Conflict(
                f"The position of {item.upstream_id} in {market.code} was changed meanwhile "
                f"(version {stored_version}, you edited version {expected_version}).",
                current=_position_snapshot(current) or {},
            )
        if values["state"] == PositionState.PINNED:
            pins = list(
                Position.objects.filter(market=market, state=PositionState.PINNED, slot=values["slot"])
                .exclude(item=item)
                .select_related("item")
            )
            clash = _pin_conflict(pins, item.pk, values)
            if clash is not None:
                raise ValidationError(
                    {
                        "slot": f"Slot {values['slot']} in {market.code} is already taken by "
                        f"{clash.item.upstream_id} for an overlapping window."
                    }
                )
        before = _position_snapshot(current)
        if current is not None and all(getattr(current, k) == v for k, v in values.items()):
            return current
        if current is None:
            current = Position(market=market, item=item, version=0)
        for name, value in values.items():
            setattr(current, name, value)
        current.version += 1
        current.author = actor
        current.save()
        audit_record(
            actor=actor,
            record=AuditRecord(
                action=f"position.{'reset' if change.state == PositionState.DEFAULT else 'set'}",
                object_type="position",
                object_id=item.upstream_id,
                object_repr=f"{item.title[:200]} in {market.code}",
                market_code=market.code,
                before=before,
                after=_position_snapshot(current),
            ),
            via=via,
        )
        outbox_enqueue_many(
            kind=OutboxKind.POSITION,
            entries=[(position_key(market.code, item.upstream_id), current.version)],
        )
    return current


def position_reset(
    *,
    actor: User | None,
    market: Market,
    item: ContentItem,
    expected_version: int | None = None,
    via: str = "portal",
) -> Position:
    """Return `item` in `market` to the market's rules and default (the row is kept).

    Raises as position_set.
    """
    return position_set(
        actor=actor,
        market=market,
        item=item,
        change=PositionChange(state=PositionState.DEFAULT),
        expected_version=expected_version,
        via=via,
    )


def positions_bulk_set(
    *,
    actor: User | None,
    markets: Sequence[Market],
    item_ids: Sequence[int],
    change: PositionChange,
    via: str = "portal",
) -> BulkResult:
    """Apply one change to many items in many markets, in one transaction.

    Markets the actor may not edit are refused as a whole; a bulk pin gives the selected items
    consecutive slots from `change.slot`, and items whose slot is taken are refused. Raises
    ValidationError when the change itself is incoherent.
    """
    change.validate()
    result = BulkResult()
    item_ids = list(dict.fromkeys(item_ids))
    allowed: list[Market] = []
    for market in markets:
        if actor is None or can(actor, Action.EDIT_POSITIONS, market):
            allowed.append(market)
        else:
            result.refused.append(
                Refusal(
                    market_code=market.code,
                    reason=f"You may not edit positions in {market.code}.",
                    count=len(item_ids),
                )
            )
    if not allowed or not item_ids:
        return result
    base = change.values()
    items = {
        pk: upstream
        for pk, upstream in ContentItem.objects.filter(pk__in=item_ids).values_list("pk", "upstream_id")
    }
    ordered_ids = [pk for pk in item_ids if pk in items]
    with transaction.atomic():
        _lock_markets(allowed)
        existing: dict[tuple[int, int], Position] = {}
        for start in range(0, len(ordered_ids), BATCH_SIZE):
            chunk = ordered_ids[start : start + BATCH_SIZE]
            for pos in Position.objects.filter(market__in=allowed, item_id__in=chunk):
                existing[(pos.market_id, pos.item_id)] = pos
        pins_by_market: dict[int, list[Position]] = defaultdict(list)
        if change.state == PositionState.PINNED:
            for pin in Position.objects.filter(market__in=allowed, state=PositionState.PINNED):
                pins_by_market[pin.market_id].append(pin)

        to_write: list[Position] = []
        audits: list[AuditRecord] = []
        outbox: list[tuple[str, int]] = []
        for market in allowed:
            slot = change.slot
            for item_id in ordered_ids:
                values = dict(base)
                if change.state == PositionState.PINNED:
                    values["slot"] = slot
                    clash = _pin_conflict(pins_by_market[market.pk], item_id, values)
                    # Slots are handed out in selection order; a taken slot refuses its item only.
                    slot = (slot or 0) + 1
                    if clash is not None:
                        result.refused.append(
                            Refusal(
                                market_code=market.code,
                                content_id=items[item_id],
                                reason=f"Slot {values['slot']} is already pinned for an overlapping window.",
                            )
                        )
                        continue
                current = existing.get((market.pk, item_id))
                if current is not None and all(getattr(current, k) == v for k, v in values.items()):
                    result.unchanged += 1
                    continue
                before = _position_snapshot(current)
                position = Position(
                    market=market,
                    item_id=item_id,
                    version=(current.version if current else 0) + 1,
                    author=actor,
                    **values,
                )
                if change.state == PositionState.PINNED:
                    pins_by_market[market.pk].append(position)
                to_write.append(position)
                audits.append(
                    AuditRecord(
                        action=f"position.{'reset' if change.state == PositionState.DEFAULT else 'set'}",
                        object_type="position",
                        object_id=items[item_id],
                        object_repr=f"{items[item_id]} in {market.code}",
                        market_code=market.code,
                        before=before,
                        after=_position_snapshot(position),
                    )
                )
                outbox.append((position_key(market.code, items[item_id]), position.version))
        Position.objects.bulk_create(
            to_write,
            batch_size=BATCH_SIZE,
            update_conflicts=True,
            unique_fields=["market", "item"],
            update_fields=[*POSITION_FIELDS, "version", "author", "updated_at"],
        )
        result.changed = len(to_write)
        if audits:
            result.batch = str(audit_bulk(actor=actor, records=audits, via=via))
            outbox_enqueue_many(kind=OutboxKind.POSITION, entries=outbox)
    missing = len(item_ids) - len(ordered_ids)
    if missing:
        result.refused.append(Refusal(market_code="", reason="Content item not found.", count=missing))
    return result


# --- tags ------------------------------------------------------------------------------------


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

    Raises AccessDenied unless `actor` may edit tags; ValidationError on unknown tags or a tag
    both added and removed.
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


# --- ingestion -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContentRow:
    """One item as the ingestion pipeline sends it, keyed by its upstream id."""

    upstream_id: str
    content_type: str
    title: str
    source: str
    language: str
    published_at: datetime
    summary: str = ""
    url: str = ""
    premium: bool = False
    tags: tuple[str, ...] = ()


@dataclass
class UpsertResult:
    """What a bulk upsert did, by upstream id."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


class BulkValidationError(ValidationError):
    """Some rows are invalid; nothing was written. `row_errors` maps row index to field errors."""

    def __init__(self, row_errors: dict[int, dict[str, list[str]]]) -> None:
        super().__init__(f"{len(row_errors)} row(s) are invalid; nothing was written.")
        self.row_errors = row_errors


_ITEM_FIELDS = ("content_type", "title", "summary", "url", "source", "language", "published_at", "premium")
# Fields the shared `content` item carries: a change in them gives the item a new version.
_PUBLISHED_FIELDS = ("content_type", "source", "upstream_tags")


def _row_errors(row: ContentRow) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    candidate = ContentItem(upstream_id=row.upstream_id, **{f: getattr(row, f) for f in _ITEM_FIELDS})
    try:
        candidate.clean_fields(exclude=["upstream_tags", "version"])
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if not row.upstream_id.strip():
        errors.setdefault("upstream_id", []).append("This field is required.")
    if row.published_at.tzinfo is None:
        errors.setdefault("published_at", []).append("Give a time zone with the time.")
    elif row.published_at < EARLIEST_PUBLISHED:
        errors.setdefault("published_at", []).append("Content starts in 1888.")
    lang = language_error(row.language)
    if lang:
        errors.setdefault("language", []).append(lang)
    bad_tags = [t for t in row.tags if not slugify(t) or len(slugify(t)) > 64]
    if bad_tags:
        errors.setdefault("tags", []).append(f"Not usable as tags: {', '.join(map(str, bad_tags))}.")
    return errors


def content_upsert_bulk(*, actor: User | None, rows: Sequence[ContentRow], via: str = "api") -> UpsertResult:
    """Create or update up to 1,000 items by upstream id, all or nothing.

    Repeating the same rows changes nothing (idempotent). Raises AccessDenied unless `actor` may
    import content; BulkValidationError with per-row field errors (nothing written); ValidationError
    when there are too many rows.
    """
    if actor is not None:
        require(actor, Action.IMPORT_CONTENT)
    if len(rows) > MAX_UPSERT_ROWS:
        raise ValidationError({"items": f"Send at most {MAX_UPSERT_ROWS} items per request."})
    row_errors: dict[int, dict[str, list[str]]] = {}
    seen: dict[str, int] = {}
    for index, row in enumerate(rows):
        errors = _row_errors(row)
        if row.upstream_id in seen:
            errors.setdefault("upstream_id", []).append(
                f"Duplicate of row {seen[row.upstream_id]} in this request."
            )
        seen.setdefault(row.upstream_id, index)
        if errors:
            row_errors[index] = errors
    if row_errors:
        raise BulkValidationError(row_errors)

    result = UpsertResult()
    normalised = {row.upstream_id: (row, sorted({slugify(t) for t in row.tags})) for row in rows}
    with transaction.atomic():
        existing = {
            item.upstream_id: item
            for item in ContentItem.objects.select_for_update().filter(upstream_id__in=list(normalised))
        }
        all_slugs = {slug for _, slugs in normalised.values() for slug in slugs}
        known = set(Tag.objects.filter(slug__in=all_slugs).values_list("slug", flat=True))
        Tag.objects.bulk_create(
            [Tag(slug=s, label=s.replace("-", " ").title()) for s in sorted(all_slugs - known)],
            ignore_conflicts=True,
        )
        to_create: list[ContentItem] = []
        to_update: list[ContentItem] = []
        audits: list[AuditRecord] = []
        for upstream_id, (row, slugs) in normalised.items():
            values: dict[str, Any] = {f: getattr(row, f) for f in _ITEM_FIELDS}
            values["upstream_tags"] = slugs
            item = existing.get(upstream_id)
            if item is None:
                item = ContentItem(upstream_id=upstream_id, version=1, **values)
                to_create.append(item)
                result.created.append(upstream_id)
                audits.append(
                    AuditRecord(
                        action="content.create",
                        object_type="content",
                        object_id=upstream_id,
                        object_repr=row.title[:300],
                        after={"title": row.title, "type": row.content_type, "tags": slugs},
                    )
                )
                continue
            changed = {k: v for k, v in values.items() if getattr(item, k) != v}
            if not changed:
                result.unchanged.append(upstream_id)
                continue
            before = {k: getattr(item, k) for k in changed}
            for k, v in changed.items():
                setattr(item, k, v)
            if set(changed) & set(_PUBLISHED_FIELDS):
                item.version += 1
            to_update.append(item)
            result.updated.append(upstream_id)
            audits.append(
                AuditRecord(
                    action="content.update",
                    object_type="content",
                    object_id=upstream_id,
                    object_repr=item.title[:300],
                    before={k: v.isoformat() if isinstance(v, datetime) else v for k, v in before.items()},
                    after={k: v.isoformat() if isinstance(v, datetime) else v for k, v in changed.items()},
                )
            )
        ContentItem.objects.bulk_create(to_create, batch_size=BATCH_SIZE)
        if to_update:
            ContentItem.objects.bulk_update(
                to_update, [*_ITEM_FIELDS, "upstream_tags", "version"], batch_size=BATCH_SIZE
            )
        touched_ids = set(result.created) | set(result.updated)
        if touched_ids:
            touched = list(ContentItem.objects.filter(upstream_id__in=touched_ids))
            slug_to_id = dict(Tag.objects.filter(slug__in=all_slugs).values_list("slug", "id"))
            _write_item_tags(_effective_tag_ids(touched, slug_to_id))
            outbox_enqueue_many(
                kind=OutboxKind.CONTENT, entries=[(i.upstream_id, i.version) for i in touched]
            )
            audit_bulk(actor=actor, records=audits, via=via)
    return result
