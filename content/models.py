"""Content items, tags and per-market positions."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from django.conf import settings
from django.core.validators import MaxLengthValidator
from django.db import models

from markets.models import Market, MarketGroup
from markets.vocabulary import ContentType
from portal.bounds import SUMMARY_MAX


class Tag(models.Model):
    slug = models.SlugField(max_length=64, unique=True)
    label = models.CharField(max_length=120)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.label


class ContentItem(models.Model):
    upstream_id = models.CharField(max_length=128, unique=True)
    content_type = models.CharField(max_length=16, choices=ContentType.choices, db_index=True)
    title = models.CharField(max_length=500)
    summary = models.TextField(
        blank=True, max_length=SUMMARY_MAX, validators=[MaxLengthValidator(SUMMARY_MAX)]
    )
    url = models.URLField(max_length=1000, blank=True)
    source = models.CharField(max_length=120, db_index=True)
    language = models.CharField(max_length=16, db_index=True)
    published_at = models.DateTimeField(db_index=True)
    premium = models.BooleanField(default=False)
    # Tags as delivered by ingestion; the effective set (`tags`) adds editors' additions and
    # removes their removals (see TagEdit), recomputed by the services on every change.
    upstream_tags = models.JSONField(default=list, blank=True)
    tags: models.ManyToManyField[Tag, ItemTag] = models.ManyToManyField(
        Tag, through="ItemTag", related_name="items", blank=True
    )
    # Not a field: the page's one-query tag fetch sets it (content.board._with_tags), and
    # content.selectors.tag_slugs reads it before falling back to `tags`.
    tag_slugs: list[str]
    # Upstream licensing, set only by ingestion (never in the portal): market codes where the
    # item may appear (empty: everywhere) and where it may not, and an availability window
    # [rights_starts_at, rights_ends_at). The resolver applies them before anything else.
    rights_allow = models.JSONField(default=list, blank=True)
    rights_deny = models.JSONField(default=list, blank=True)
    rights_starts_at = models.DateTimeField(null=True, blank=True)
    rights_ends_at = models.DateTimeField(null=True, blank=True)
    # Grows on every change readers must see (tags, type, source, rights): the `content` shared item.
    version = models.PositiveBigIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-published_at", "-id"]
        indexes = [
            models.Index(fields=["-published_at", "-id"], name="content_recent_idx"),
            # The schedule's rights source asks "which licences start or end in the next 30 days":
            # partial indexes hold only the few items with a window, not the million without.
            models.Index(
                fields=["rights_starts_at"],
                name="content_rights_start_idx",
                condition=models.Q(rights_starts_at__isnull=False),
            ),
            models.Index(
                fields=["rights_ends_at"],
                name="content_rights_end_idx",
                condition=models.Q(rights_ends_at__isnull=False),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(rights_starts_at__isnull=True)
                | models.Q(rights_ends_at__isnull=True)
                | models.Q(rights_starts_at__lt=models.F("rights_ends_at")),
                name="content_rights_window_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.upstream_id})"

    @property
    def has_rights(self) -> bool:
        """Whether ingestion restricted where or when the item may appear."""
        return bool(self.rights_allow or self.rights_deny or self.rights_starts_at or self.rights_ends_at)

    @property
    def rights_summary(self) -> list[str]:
        """The item's rights in plain words ("Only in DE, AT", "Not licensed in FR", "Available
        from 2027-01-01"); empty when it may appear everywhere, always."""
        lines = []
        if self.rights_allow:
            lines.append("Only in " + ", ".join(self.rights_allow))
        if self.rights_deny:
            lines.append("Not licensed in " + ", ".join(self.rights_deny))
        starts, ends = self.rights_starts_at, self.rights_ends_at
        if starts and ends:
            lines.append(f"Available from {_day(starts)} until {_day(ends)}")
        elif starts:
            lines.append(f"Available from {_day(starts)}")
        elif ends:
            lines.append(f"Available until {_day(ends)}")
        return lines


def _day(value: datetime) -> str:
    """ "2027-01-01" for midnight UTC, else "2027-01-01 06:00 UTC"."""
    utc = value.astimezone(UTC)
    return f"{utc:%Y-%m-%d}" if utc.time() == time(0) else f"{utc:%Y-%m-%d %H:%M} UTC"


class ItemTag(models.Model):
    """The effective tags of an item (denormalised for filtering and resolving)."""

    item = models.ForeignKey(ContentItem, on_delete=models.CASCADE, related_name="item_tags")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="item_tags")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "tag"], name="itemtag_unique")]
        indexes = [models.Index(fields=["tag", "item"], name="itemtag_by_tag_idx")]


class TagEditOp(models.TextChoices):
    ADD = "add", "Added"
    REMOVE = "remove", "Removed"


class TagEdit(models.Model):
    """An editor's addition or removal of a tag, which survives later upstream re-ingestion."""

    item = models.ForeignKey(ContentItem, on_delete=models.CASCADE, related_name="tag_edits")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="+")
    op = models.CharField(max_length=8, choices=TagEditOp.choices)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "tag"], name="tagedit_unique")]


class PositionState(models.TextChoices):
    HIDDEN = "hidden", "Hidden"
    SHOWN = "shown", "Shown"
    PROMOTED = "promoted", "Promoted"
    PINNED = "pinned", "Pinned"
    # Reset to the market's default; kept (not deleted) so an older write cannot bring it back.
    DEFAULT = "default", "Default"


class Position(models.Model):
    market = models.ForeignKey(Market, on_delete=models.CASCADE, related_name="positions")
    item = models.ForeignKey(ContentItem, on_delete=models.CASCADE, related_name="positions")
    state = models.CharField(max_length=16, choices=PositionState.choices)
    boost = models.PositiveIntegerField(default=0)
    slot = models.PositiveIntegerField(null=True, blank=True)
    section = models.CharField(max_length=64, blank=True)
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    version = models.PositiveBigIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # The item's published_at, copied when the row is created and kept in step by ingestion, so
    # that one index serves the board's "hidden in DE, newest first" filter and its order
    # together (docs/benchmarks.md); never edited on its own.
    item_published_at = models.DateTimeField(editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["market", "item"], name="position_unique"),
            models.CheckConstraint(
                condition=models.Q(starts_at__isnull=True)
                | models.Q(ends_at__isnull=True)
                | models.Q(starts_at__lt=models.F("ends_at")),
                name="position_window_ordered",
            ),
        ]
        indexes = [
            # Leads with (market, state) like the index it replaced, then the board's order.
            models.Index(
                fields=["market", "state", "-item_published_at", "-item"],
                name="position_state_recent_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.market_id}:{self.item_id} {self.state}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Services create rows in bulk with the copy filled in; a single save (fixtures, the
        # shell) fills it here so no row is ever without it.
        if self.item_published_at is None:
            self.item_published_at = ContentItem.objects.values_list("published_at", flat=True).get(
                pk=self.item_id
            )
        super().save(*args, **kwargs)


class GroupPosition(models.Model):
    """An item's position in a market group: hide, show or promote in every member (never pin).

    One row per (group, item) however many members the group has; published once, to the
    `positions` table under the group's code. Same fields and version scheme as `Position`.
    """

    group = models.ForeignKey(MarketGroup, on_delete=models.CASCADE, related_name="positions")
    item = models.ForeignKey(ContentItem, on_delete=models.CASCADE, related_name="group_positions")
    state = models.CharField(max_length=16, choices=PositionState.choices)
    boost = models.PositiveIntegerField(default=0)
    section = models.CharField(max_length=64, blank=True)
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    version = models.PositiveBigIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["group", "item"], name="groupposition_unique"),
            models.CheckConstraint(
                condition=models.Q(starts_at__isnull=True)
                | models.Q(ends_at__isnull=True)
                | models.Q(starts_at__lt=models.F("ends_at")),
                name="groupposition_window_ordered",
            ),
            # Pins stay per market (DESIGN: a group owns positions "except pins").
            models.CheckConstraint(
                condition=~models.Q(state=PositionState.PINNED), name="groupposition_never_pinned"
            ),
        ]
        indexes = [models.Index(fields=["group", "state"], name="groupposition_state_idx")]

    def __str__(self) -> str:
        return f"group {self.group_id}:{self.item_id} {self.state}"


from content.labels.models import *  # noqa: E402,F401,F403
