"""REST API for content items, tags and per-market positions (thin: parse, call, render).

Access is decided by `accounts.access`, before the body is parsed, so a caller who may not act
learns that (403) rather than what was wrong with the body.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.access import Action, can, require
from content.filters import ContentFilter, GroupPositionFilter, PositionFilter
from content.models import ContentItem, GroupPosition, Position, PositionState, Tag
from content.selectors import content_get, positions_overridden, with_tags
from content.serializers import (
    BulkUpsertRequestSerializer,
    BulkUpsertResultSerializer,
    ContentItemDetailSerializer,
    ContentItemSerializer,
    ContentRowSerializer,
    GroupPositionBulkSerializer,
    GroupPositionChangeSerializer,
    GroupPositionSerializer,
    ItemTagsSerializer,
    PositionBulkResultSerializer,
    PositionBulkSerializer,
    PositionChangeSerializer,
    PositionSerializer,
    TagCreateSerializer,
    TagSerializer,
)
from content.services import (
    MAX_UPSERT_ROWS,
    BulkValidationError,
    ContentRow,
    PositionChange,
    content_upsert_bulk,
    group_position_set,
    group_positions_bulk_set,
    item_tags_update,
    position_reset,
    position_set,
    positions_bulk_set,
    tag_create,
)
from markets.api import MARKET_CODE_PARAMETER, market_or_404
from markets.groups.api import GROUP_CODE_PARAMETER, group_or_404
from markets.models import Market
from portal.api.actor import api_actor
from portal.api.etags import expected_version as expected_version_of
from portal.api.etags import if_match_parameter, is_schema_view, with_etag
from portal.api.pagination import DefaultCursorPagination
from portal.change_requests.api import deferred_response
from portal.change_requests.serializers import ChangeRequestSerializer
from portal.change_requests.services import (
    Operation,
    approvals_needed,
    changes_defer,
    group_approvals_needed,
    group_changes_defer,
)

CONTENT_ID_PARAMETER = OpenApiParameter(
    "upstream_id", str, OpenApiParameter.PATH, description="The item's upstream (content) id."
)
POSITION_CONTENT_ID_PARAMETER = OpenApiParameter(
    "content_id", str, OpenApiParameter.PATH, description="The item's upstream (content) id."
)


class ContentCursorPagination(DefaultCursorPagination):
    ordering = ("-published_at", "-id")  # type: ignore[assignment]  # DRF takes a tuple too


class TagCursorPagination(DefaultCursorPagination):
    ordering = "slug"


def _item_or_404(upstream_id: str) -> ContentItem:
    if "\x00" in upstream_id:  # PostgreSQL refuses NUL in text: not an id we could hold
        raise NotFound("There is no such content item.")
    try:
        return content_get(upstream_id=upstream_id)
    except ContentItem.DoesNotExist:
        raise NotFound(f"There is no content item {upstream_id!r}.") from None


def _parse_rows(body: Any) -> list[ContentRow]:
    """Return the rows of a bulk upsert body; raises a 400 with per-row field errors."""
    items = body.get("items") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise serializers.ValidationError({"items": ['Send {"items": [...]} with a list of items.']})
    if len(items) > MAX_UPSERT_ROWS:
        raise serializers.ValidationError(
            {"items": [f"Send at most {MAX_UPSERT_ROWS:,} items per request (got {len(items):,})."]}
        )
    rows: list[ContentRow] = []
    row_errors: dict[int, dict[str, Any]] = {}
    for index, item in enumerate(items):
        row = ContentRowSerializer(data=item)
        if row.is_valid():
            rows.append(row.to_row())
        else:
            row_errors[index] = dict(row.errors)
    if row_errors:
        raise BulkValidationError(row_errors)
    return rows


@extend_schema_view(
    list=extend_schema(
        summary="Search content items",
        description="Newest first (published_at, then id), cursor-paginated; tags are the effective tags.",
    ),
    retrieve=extend_schema(
        summary="Read a content item",
        parameters=[CONTENT_ID_PARAMETER],
        responses={200: ContentItemDetailSerializer},
    ),
)
class ContentViewSet(viewsets.GenericViewSet[ContentItem]):
    serializer_class = ContentItemSerializer
    pagination_class = ContentCursorPagination
    filterset_class = ContentFilter
    lookup_field = "upstream_id"
    lookup_value_regex = "[^/]+"

    def get_queryset(self) -> QuerySet[ContentItem]:
        return ContentItem.objects.all()

    def filter_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return with_tags(super().filter_queryset(queryset))

    def list(self, request: Request) -> Response:
        require(request.user, Action.VIEW_CONTENT)
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request: Request, upstream_id: str) -> Response:
        require(request.user, Action.VIEW_CONTENT)
        return Response(ContentItemDetailSerializer(_item_or_404(upstream_id)).data)

    @extend_schema(
        summary="Create or update up to 1,000 items by upstream id",
        description=(
            "All or nothing: when any row is invalid nothing is written and the answer is 400 with "
            '`{"detail": …, "rows": {"<index>": {"<field>": [...]}}}`. Idempotent: sending the same '
            "items again reports them all as unchanged, so a timed-out request can simply be retried."
        ),
        request=BulkUpsertRequestSerializer,
        responses={
            200: BulkUpsertResultSerializer,
            400: OpenApiResponse(description="Too many items, or per-row field errors; nothing written."),
        },
    )
    @action(detail=False, methods=["post"], url_path="bulk-upsert")
    def bulk_upsert(self, request: Request) -> Response:
        require(request.user, Action.IMPORT_CONTENT)
        rows = _parse_rows(request.data)
        result = content_upsert_bulk(actor=api_actor(request), rows=rows, via="api")
        return Response(
            BulkUpsertResultSerializer(
                {"created": result.created, "updated": result.updated, "unchanged": result.unchanged}
            ).data
        )

    @extend_schema(
        summary="Add and remove an item's tags as an editor",
        description="Editors' changes survive later re-ingestion of the item. Unknown tags are refused.",
        parameters=[CONTENT_ID_PARAMETER],
        request=ItemTagsSerializer,
        responses={200: ContentItemDetailSerializer, 400: OpenApiResponse(description="Unknown tags.")},
    )
    @action(detail=True, methods=["post"], url_path="tags")
    def tags(self, request: Request, upstream_id: str) -> Response:
        require(request.user, Action.EDIT_TAGS)
        item = _item_or_404(upstream_id)
        payload = ItemTagsSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        item_tags_update(actor=api_actor(request), item=item, via="api", **payload.validated_data)
        return Response(ContentItemDetailSerializer(_item_or_404(upstream_id)).data)


@extend_schema_view(
    list=extend_schema(summary="List tags"),
    create=extend_schema(
        summary="Create a tag (editors and admins)",
        request=TagCreateSerializer,
        responses={201: TagSerializer, 400: OpenApiResponse(description="Bad or duplicate slug.")},
    ),
)
class TagViewSet(viewsets.GenericViewSet[Tag]):
    serializer_class = TagSerializer
    pagination_class = TagCursorPagination

    def get_queryset(self) -> QuerySet[Tag]:
        return Tag.objects.all()

    def list(self, request: Request) -> Response:
        require(request.user, Action.VIEW_CONTENT)
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def create(self, request: Request) -> Response:
        require(request.user, Action.EDIT_TAGS)
        payload = TagCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        tag = tag_create(actor=api_actor(request), via="api", **payload.validated_data)
        return Response(TagSerializer(tag).data, status=status.HTTP_201_CREATED)


_POSITION_WRITE_RESPONSES = {
    400: OpenApiResponse(description="Field errors (incoherent change, pin slot taken…); nothing written."),
    404: OpenApiResponse(description="No such market or content item."),
    412: OpenApiResponse(description="The If-Match ETag is stale; the body has the current values."),
    202: OpenApiResponse(
        ChangeRequestSerializer,
        description="The market's approval policy needs approval: a change request was made instead.",
    ),
}


def _refusals_for_unknown(content_ids: Iterable[str]) -> list[dict[str, Any]]:
    return [
        {"market": "", "content_id": cid, "reason": "Content item not found.", "count": 1}
        for cid in content_ids
    ]


def item_ids_by_upstream_id(upstream_ids: Iterable[str]) -> dict[str, int]:
    """Return the primary keys of the items with these upstream ids (unknown ids are left out)."""
    ids = list(upstream_ids)
    found: dict[str, int] = {}
    # In chunks: SQLite builds older than 3.32 allow only 999 parameters per statement.
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        found.update(ContentItem.objects.filter(upstream_id__in=chunk).values_list("upstream_id", "pk"))
    return found


@extend_schema_view(
    list=extend_schema(summary="List a market's stored positions", description="Newest first by id."),
    retrieve=extend_schema(
        summary="Read the position of one item in a market",
        description=(
            'ETag: `"position-<version>"`. An item with no stored position answers state `default` '
            'and version 0 (ETag `"position-0"`), so a script can PUT with `If-Match: "position-0"` '
            'to mean "only if nobody has positioned it yet".'
        ),
        parameters=[POSITION_CONTENT_ID_PARAMETER],
    ),
    update=extend_schema(
        summary="Set the position of one item in a market",
        description="Replaces the position (omitted fields take their defaults).",
        parameters=[POSITION_CONTENT_ID_PARAMETER, if_match_parameter("position")],
        request=PositionChangeSerializer,
        responses={200: PositionSerializer, **_POSITION_WRITE_RESPONSES},
    ),
    destroy=extend_schema(
        summary="Reset one item to the market's rules and default",
        description=(
            'The row is kept with state "default" and a new version, so that an older write cannot '
            "bring the previous state back in the shared tables."
        ),
        parameters=[POSITION_CONTENT_ID_PARAMETER, if_match_parameter("position")],
        responses={
            200: PositionSerializer,
            202: _POSITION_WRITE_RESPONSES[202],
            404: _POSITION_WRITE_RESPONSES[404],
            412: _POSITION_WRITE_RESPONSES[412],
        },
    ),
)
@extend_schema(parameters=[MARKET_CODE_PARAMETER])
class PositionViewSet(viewsets.GenericViewSet[Position]):
    serializer_class = PositionSerializer
    pagination_class = DefaultCursorPagination
    filterset_class = PositionFilter
    # The URL names the item by its upstream id (DRF's OPTIONS metadata looks objects up this way).
    lookup_field = "item__upstream_id"
    lookup_url_kwarg = "content_id"
    lookup_value_regex = "[^/]+"

    def get_queryset(self) -> QuerySet[Position]:
        if is_schema_view(self):
            return Position.objects.none()
        market = market_or_404(self.request, self.kwargs["code"])
        return Position.objects.filter(market=market).select_related("item", "market", "author")

    def _render(self, position: Position) -> Response:
        return with_etag(Response(PositionSerializer(position).data), "position", position.version)

    def list(self, request: Request, code: str) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request: Request, code: str, content_id: str) -> Response:
        market = market_or_404(request, code)
        item = _item_or_404(content_id)
        position = (
            Position.objects.filter(market=market, item=item)
            .select_related("item", "market", "author")
            .first()
        )
        if position is None:
            # Not stored yet: the item follows the rules and default, as a reset one does.
            position = Position(market=market, item=item, state=PositionState.DEFAULT, version=0)
        return self._render(position)

    def update(self, request: Request, code: str, content_id: str) -> Response:
        market = market_or_404(request, code, Action.EDIT_POSITIONS)
        item = _item_or_404(content_id)
        version = expected_version_of(request, "position")
        payload = PositionChangeSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        if approvals_needed(market, positions=1):
            change = PositionChange(**payload.validated_data)
            return deferred_response(
                changes_defer(
                    actor=api_actor(request),
                    market=market,
                    operations=[Operation.position(item, change, expected_version=version)],
                    title=f"{item.upstream_id} in {market.code}: {change.state}",
                    submit=True,
                    via="api",
                )
            )
        position = position_set(
            actor=api_actor(request),
            market=market,
            item=item,
            change=PositionChange(**payload.validated_data),
            expected_version=version,
            via="api",
        )
        return self._render(position)

    def destroy(self, request: Request, code: str, content_id: str) -> Response:
        market = market_or_404(request, code, Action.EDIT_POSITIONS)
        item = _item_or_404(content_id)
        if approvals_needed(market, positions=1):
            return deferred_response(
                changes_defer(
                    actor=api_actor(request),
                    market=market,
                    operations=[
                        Operation.position(
                            item,
                            PositionChange(state=PositionState.DEFAULT),
                            expected_version=expected_version_of(request, "position"),
                        )
                    ],
                    title=f"{item.upstream_id} in {market.code}: reset",
                    submit=True,
                    via="api",
                )
            )
        position = position_reset(
            actor=api_actor(request),
            market=market,
            item=item,
            expected_version=expected_version_of(request, "position"),
            via="api",
        )
        return self._render(position)

    @extend_schema(
        summary="Set one change for many items in one or several markets",
        description=(
            "One transaction. Markets you may not edit are refused as a whole, unknown content ids "
            "and taken pin slots item by item; the rest is applied. A bulk pin gives the items "
            "consecutive slots from `slot`. `will_stay_hidden` counts the positions set that the "
            "items' rights or a binding hide rule override (the items stay hidden there)."
        ),
        request=PositionBulkSerializer,
        responses={
            200: PositionBulkResultSerializer,
            202: OpenApiResponse(
                PositionBulkResultSerializer, description="Every market needed approval: see change_requests."
            ),
            400: OpenApiResponse(
                description="Field errors (too many ids, unknown markets…); nothing written."
            ),
        },
    )
    @action(detail=False, methods=["post"], url_path="bulk")
    def bulk(self, request: Request, code: str) -> Response:
        market = market_or_404(request, code, Action.EDIT_POSITIONS)
        payload = PositionBulkSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        content_ids: list[str] = list(dict.fromkeys(data.pop("content_ids")))
        markets: list[Market] = data.pop("markets", None) or [market]
        item_ids = item_ids_by_upstream_id(content_ids)
        change = PositionChange(**data)
        ids = [item_ids[cid] for cid in content_ids if cid in item_ids]
        deferred = [m for m in markets if approvals_needed(m, positions=len(ids), bulk=True)]
        actor = api_actor(request)
        requests = [
            changes_defer(
                actor=actor,
                market=m,
                operations=_bulk_operations(ids, change),
                title=f"Bulk {change.state} of {len(ids)} items in {m.code}",
                submit=True,
                via="api",
            )
            for m in deferred
            if ids
        ]
        direct = [m for m in markets if m not in deferred]
        result = positions_bulk_set(actor=actor, markets=direct, item_ids=ids, change=change, via="api")
        refused = [
            {"market": r.market_code, "content_id": r.content_id, "reason": r.reason, "count": r.count}
            for r in result.refused
        ]
        refused += _refusals_for_unknown(cid for cid in content_ids if cid not in item_ids)
        now = timezone.now()
        # Of what was applied now: the positions that rights or a binding rule will override.
        overrides = positions_overridden(
            markets=[m for m in direct if can(request.user, Action.EDIT_POSITIONS, m)],
            item_ids=ids,
            state=change.state,
            at=max(now, change.starts_at) if change.starts_at else now,
        )
        body = {
            "changed": result.changed,
            "unchanged": result.unchanged,
            "refused": refused,
            "will_stay_hidden": overrides,
        }
        if requests:
            body["change_requests"] = [cr.pk for cr in requests]
        # Everything waits for approval: accepted, not done.
        accepted = bool(requests) and not direct
        return Response(
            PositionBulkResultSerializer(body).data,
            status=status.HTTP_202_ACCEPTED if accepted else status.HTTP_200_OK,
        )


def _bulk_operations(item_ids: list[int], change: PositionChange) -> list[Operation]:
    """One operation per item; a bulk pin takes consecutive slots, as positions_bulk_set does."""
    items = ContentItem.objects.in_bulk(item_ids)
    ops = []
    for offset, item_id in enumerate(item_ids):
        one = change
        if change.slot is not None:
            one = PositionChange(**{**change.values(), "slot": change.slot + offset})
        ops.append(Operation.position(items[item_id], one))
    return ops


# --- group positions -------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="List a group's stored positions", description="Newest first by id."),
    retrieve=extend_schema(
        summary="Read the position of one item in a group",
        description='ETag: `"position-<version>"`; version 0 when none is stored.',
        parameters=[POSITION_CONTENT_ID_PARAMETER],
    ),
    update=extend_schema(
        summary="Set the position of one item in a group (every member market)",
        description="Hide, show or promote; pins stay per market. One row however many members.",
        parameters=[POSITION_CONTENT_ID_PARAMETER, if_match_parameter("position")],
        request=GroupPositionChangeSerializer,
        responses={200: GroupPositionSerializer, **_POSITION_WRITE_RESPONSES},
    ),
    destroy=extend_schema(
        summary="Reset one item in a group (kept as state default)",
        parameters=[POSITION_CONTENT_ID_PARAMETER, if_match_parameter("position")],
        responses={
            200: GroupPositionSerializer,
            202: _POSITION_WRITE_RESPONSES[202],
            404: _POSITION_WRITE_RESPONSES[404],
            412: _POSITION_WRITE_RESPONSES[412],
        },
    ),
)
@extend_schema(parameters=[GROUP_CODE_PARAMETER])
class GroupPositionViewSet(viewsets.GenericViewSet[GroupPosition]):
    serializer_class = GroupPositionSerializer
    pagination_class = DefaultCursorPagination
    filterset_class = GroupPositionFilter
    lookup_field = "item__upstream_id"
    lookup_url_kwarg = "content_id"
    lookup_value_regex = "[^/]+"

    def get_queryset(self) -> QuerySet[GroupPosition]:
        if is_schema_view(self):
            return GroupPosition.objects.none()
        group = group_or_404(self.request, self.kwargs["group"])
        return GroupPosition.objects.filter(group=group).select_related("item", "group", "author")

    def _render(self, position: GroupPosition) -> Response:
        return with_etag(Response(GroupPositionSerializer(position).data), "position", position.version)

    def list(self, request: Request, group: str) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request: Request, group: str, content_id: str) -> Response:
        found = group_or_404(request, group)
        item = _item_or_404(content_id)
        position = (
            GroupPosition.objects.filter(group=found, item=item)
            .select_related("item", "group", "author")
            .first()
        )
        if position is None:
            position = GroupPosition(group=found, item=item, state=PositionState.DEFAULT, version=0)
        return self._render(position)

    def _set(self, request: Request, group: str, content_id: str, data: dict[str, Any]) -> Response:
        found = group_or_404(request, group, Action.EDIT_POSITIONS)
        item = _item_or_404(content_id)
        version = expected_version_of(request, "position")
        payload = GroupPositionChangeSerializer(data=data)
        payload.is_valid(raise_exception=True)
        if group_approvals_needed(found, positions=1):
            change = PositionChange(**payload.validated_data)
            return deferred_response(
                group_changes_defer(
                    actor=api_actor(request),
                    group=found,
                    operations=[Operation.position(item, change, expected_version=version)],
                    title=f"Position of {item.upstream_id} in group {found.code}",
                    submit=True,
                    via="api",
                )
            )
        position = group_position_set(
            actor=api_actor(request),
            group=found,
            item=item,
            change=PositionChange(**payload.validated_data),
            expected_version=version,
            via="api",
        )
        return self._render(position)

    def update(self, request: Request, group: str, content_id: str) -> Response:
        return self._set(request, group, content_id, request.data)

    def destroy(self, request: Request, group: str, content_id: str) -> Response:
        return self._set(request, group, content_id, {"state": PositionState.DEFAULT})

    @extend_schema(
        summary="Set one change for many items in a group",
        description=(
            "One transaction; one position row and one shared-table item per item, however many "
            "member markets the group has. Unknown content ids are refused one by one."
        ),
        request=GroupPositionBulkSerializer,
        responses={
            200: PositionBulkResultSerializer,
            202: OpenApiResponse(
                ChangeRequestSerializer,
                description="The group's or a member's approval policy needs approval: one submitted group "
                "change request holds the changes instead.",
            ),
            400: OpenApiResponse(description="Field errors (a pin, too many ids…); nothing written."),
        },
    )
    @action(detail=False, methods=["post"], url_path="bulk")
    def bulk(self, request: Request, group: str) -> Response:
        found = group_or_404(request, group, Action.EDIT_POSITIONS)
        payload = GroupPositionBulkSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        content_ids: list[str] = list(dict.fromkeys(data.pop("content_ids")))
        item_ids = item_ids_by_upstream_id(content_ids)
        change = PositionChange(**data)
        ids = [item_ids[cid] for cid in content_ids if cid in item_ids]
        if group_approvals_needed(found, positions=len(ids), bulk=True):
            items = ContentItem.objects.in_bulk(ids)
            return deferred_response(
                group_changes_defer(
                    actor=api_actor(request),
                    group=found,
                    operations=[Operation.position(items[pk], change) for pk in ids if pk in items],
                    title=f"Bulk change of {len(ids)} positions in group {found.code}",
                    submit=True,
                    via="api",
                )
            )
        result = group_positions_bulk_set(
            actor=api_actor(request), group=found, item_ids=ids, change=change, via="api"
        )
        refused = _refusals_for_unknown(cid for cid in content_ids if cid not in item_ids)
        now = timezone.now()
        # In each member: the positions that rights or a binding rule will override.
        overrides = positions_overridden(
            markets=[link.market for link in found.member_links.all()],
            item_ids=ids,
            state=change.state,
            at=max(now, change.starts_at) if change.starts_at else now,
        )
        body = {
            "changed": result.changed,
            "unchanged": result.unchanged,
            "refused": refused,
            "will_stay_hidden": overrides,
        }
        return Response(PositionBulkResultSerializer(body).data)
