"""Ingestion: the bulk upsert of content items by upstream id, all rows valid or none written."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone
from django.utils.text import slugify

from accounts.access import Action, require
from accounts.models import User
from content.models import ContentItem, Position, Tag
from content.services.base import BATCH_SIZE, EARLIEST_PUBLISHED, MAX_UPSERT_ROWS
from content.services.tags import _effective_tag_ids, _write_item_tags
from markets.codes import language_error
from markets.models import Market
from portal.audit.services import AuditRecord, audit_bulk
from portal.bounds import RIGHTS_MARKETS_MAX, datetime_range_error
from portal.shared_tables.models import OutboxKind
from portal.shared_tables.outbox import outbox_enqueue_many


@dataclass(frozen=True)
class ContentRights:
    """An item's upstream licensing: where (allow: only there, empty = everywhere; deny: never
    there) and when ([starts_at, ends_at), either end open) it may appear."""

    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    starts_at: datetime | None = None
    ends_at: datetime | None = None

    def values(self) -> dict[str, Any]:
        """The ContentItem field values, market codes upper-cased, sorted and listed once."""
        return {
            "rights_allow": sorted({code.strip().upper() for code in self.allow}),
            "rights_deny": sorted({code.strip().upper() for code in self.deny}),
            "rights_starts_at": self.starts_at,
            "rights_ends_at": self.ends_at,
        }


NO_RIGHTS = ContentRights()


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
    # None: leave the stored rights as they are (a new item has none); NO_RIGHTS removes them.
    rights: ContentRights | None = None


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
_RIGHTS_FIELDS = ("rights_allow", "rights_deny", "rights_starts_at", "rights_ends_at")
# Fields the shared `content` item carries: a change in them gives the item a new version.
_PUBLISHED_FIELDS = ("content_type", "source", "upstream_tags", *_RIGHTS_FIELDS)


def _rights_errors(rights: ContentRights, known_markets: set[str]) -> list[str]:
    """Return what is wrong with `rights` (unknown market codes, a code in both lists, the window)."""
    errors: list[str] = []
    values = rights.values()
    for name, codes in (("allow", values["rights_allow"]), ("deny", values["rights_deny"])):
        if len(codes) > RIGHTS_MARKETS_MAX:
            errors.append(f"List at most {RIGHTS_MARKETS_MAX} markets in {name}.")
        unknown = [code for code in codes if code not in known_markets]
        if unknown:
            errors.append(f"Unknown market code(s) in {name}: {', '.join(unknown[:20])}.")
    both = sorted(set(values["rights_allow"]) & set(values["rights_deny"]))
    if both:
        errors.append(
            f"{', '.join(both)} cannot be both allowed and denied; name each market in one list only."
        )
    window_ok = True
    for name in ("starts_at", "ends_at"):
        value = getattr(rights, name)
        if value is None:
            continue
        if value.tzinfo is None:
            errors.append(f"Give a time zone with {name}.")
            window_ok = False
        elif range_error := datetime_range_error(value):
            errors.append(f"{name}: {range_error}")
            window_ok = False
    if window_ok and rights.starts_at and rights.ends_at and rights.starts_at >= rights.ends_at:
        errors.append("The availability window must end after it starts (ends_at after starts_at).")
    return errors


def _rights_codes(rows: Sequence[ContentRow]) -> set[str]:
    """The market codes the rows' rights name (upper-cased)."""
    codes: set[str] = set()
    for row in rows:
        if row.rights is not None:
            values = row.rights.values()
            codes.update(values["rights_allow"], values["rights_deny"])
    return codes


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
    wanted_codes = _rights_codes(rows)
    known_markets = (
        set(Market.objects.filter(code__in=sorted(wanted_codes)).values_list("code", flat=True))
        if wanted_codes
        else set()
    )
    for index, row in enumerate(rows):
        errors = _row_errors(row)
        if row.rights is not None and (rights_errors := _rights_errors(row.rights, known_markets)):
            errors["rights"] = rights_errors
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
    now = timezone.now()
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
        republished: list[int] = []
        audits: list[AuditRecord] = []
        for upstream_id, (row, slugs) in normalised.items():
            values: dict[str, Any] = {f: getattr(row, f) for f in _ITEM_FIELDS}
            values["upstream_tags"] = slugs
            if row.rights is not None:
                values.update(row.rights.values())
            item = existing.get(upstream_id)
            if item is None:
                item = ContentItem(upstream_id=upstream_id, version=1, **values)
                to_create.append(item)
                result.created.append(upstream_id)
                after: dict[str, Any] = {"title": row.title, "type": row.content_type, "tags": slugs}
                if item.has_rights:
                    after["rights"] = item.rights_summary
                audits.append(
                    AuditRecord(
                        action="content.create",
                        object_type="content",
                        object_id=upstream_id,
                        object_repr=row.title[:300],
                        after=after,
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
            if "published_at" in changed:
                republished.append(item.pk)
            # bulk_update does not apply auto_now: the row (and the shared `content` item built
            # from it) must say when it last changed, with its new version.
            item.updated_at = now
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
                to_update,
                [*_ITEM_FIELDS, "upstream_tags", *_RIGHTS_FIELDS, "version", "updated_at"],
                batch_size=BATCH_SIZE,
            )
        for start in range(0, len(republished), BATCH_SIZE):
            # Positions carry their item's published_at for the board's index (Position model).
            Position.objects.filter(item_id__in=republished[start : start + BATCH_SIZE]).update(
                item_published_at=Subquery(
                    ContentItem.objects.filter(pk=OuterRef("item_id")).values("published_at")[:1]
                )
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
