"""REST API for markets, their rules and the resolver's answer (thin: parse, call, render).

Access is decided by `accounts.access` through the selectors and services: a market that does
not exist answers 404, one the caller may not act on answers 403.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.access import Action, require
from content.labels.selectors import reason_with_image_blocks
from content.models import ContentItem
from content.selectors import content_get, image_blocks_by_item, item_states
from markets.filters import MarketFilter, RuleFilter
from markets.groups.services import market_create_in_groups
from markets.models import Market, MarketGroup, Rule
from markets.selectors import market_get, market_list
from markets.serializers import (
    DecisionSerializer,
    MarketCreateSerializer,
    MarketSerializer,
    MarketUpdateSerializer,
    ResolveQuerySerializer,
    RuleSerializer,
    RuleWriteSerializer,
)
from markets.services import (
    market_activate,
    market_deactivate,
    market_update,
    rule_create,
    rule_delete,
    rule_update,
)
from portal.api.actor import api_actor
from portal.api.etags import expected_version, if_match_parameter, is_schema_view, with_etag
from portal.api.pagination import DefaultCursorPagination
from portal.change_requests.api import deferred_response
from portal.change_requests.serializers import ChangeRequestSerializer
from portal.change_requests.services import Operation, approvals_needed, changes_defer

# --- shared by the markets and content APIs ---------------------------------------------------

MARKET_CODE_PARAMETER = OpenApiParameter(
    "code", OpenApiTypes.STR, OpenApiParameter.PATH, description="Market code, e.g. AU or AU-OPTUS."
)


def market_or_404(request: Request, code: str, action: Action = Action.VIEW_MARKET) -> Market:
    """Return the market `code` if the caller may do `action` in it.

    Raises NotFound (404) when it does not exist and AccessDenied (403) when the caller may not.
    """
    # PostgreSQL refuses NUL in text and would answer a stray %00 in a URL with a 500.
    if "\x00" in code:
        raise NotFound("There is no such market.")
    try:
        return market_get(user=request.user, code=code, action=action)
    except Market.DoesNotExist:
        raise NotFound(f"There is no market {code!r}.") from None


class MarketCursorPagination(DefaultCursorPagination):
    ordering = "code"


class RuleCursorPagination(DefaultCursorPagination):
    ordering = "id"


# --- markets ---------------------------------------------------------------------------------


_STATUS_CHANGE: dict[str, Any] = {
    "parameters": [MARKET_CODE_PARAMETER, if_match_parameter("market")],
    "request": None,
    "responses": {
        200: MarketSerializer,
        403: OpenApiResponse(description="Only admins deactivate or reactivate a market."),
        412: OpenApiResponse(description="The If-Match ETag is stale; the body has the current values."),
    },
}


@extend_schema_view(
    list=extend_schema(summary="List the markets you may view"),
    create=extend_schema(
        summary="Create a market or partner edition (admins)",
        description=(
            "The market starts active. With `copy_rules_from`, every rule of that market is copied "
            "as a new rule of this one (new ids, version 1, audited as `rule.copy`), and the "
            "languages, time zone and default visibility left out are taken from it."
        ),
        request=MarketCreateSerializer,
        responses={
            201: MarketSerializer,
            400: OpenApiResponse(description="Field errors (bad or taken code, time zone, languages…)."),
            403: OpenApiResponse(description="Only admins create markets."),
        },
    ),
    retrieve=extend_schema(
        summary="Read a market's settings",
        parameters=[MARKET_CODE_PARAMETER],
        description='The response carries an ETag `"market-<version>"` for If-Match.',
    ),
    partial_update=extend_schema(
        summary="Change a market's settings",
        parameters=[MARKET_CODE_PARAMETER, if_match_parameter("market")],
        request=MarketUpdateSerializer,
        responses={
            200: MarketSerializer,
            202: OpenApiResponse(
                ChangeRequestSerializer,
                description="The market's approval policy needs approval: a change request was made instead.",
            ),
            400: OpenApiResponse(description="Field errors; nothing changed."),
            412: OpenApiResponse(description="The If-Match ETag is stale; the body has the current values."),
        },
    ),
)
class MarketViewSet(viewsets.GenericViewSet[Market]):
    serializer_class = MarketSerializer
    pagination_class = MarketCursorPagination
    filterset_class = MarketFilter
    lookup_field = "code"
    lookup_value_regex = "[^/]+"

    def get_queryset(self) -> QuerySet[Market]:
        if is_schema_view(self):
            return Market.objects.none()
        return market_list(user=self.request.user)

    def list(self, request: Request) -> Response:
        # Someone with no market at all is refused outright rather than shown an empty list.
        require(request.user, Action.VIEW_MARKET)
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def create(self, request: Request) -> Response:
        # Refused before the body is read: only admins create markets.
        require(request.user, Action.MANAGE_MARKETS)
        payload = MarketCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        source = None
        if source_code := data.pop("copy_rules_from", None):
            try:
                source = market_get(user=request.user, code=source_code)
            except Market.DoesNotExist:
                raise ValidationError({"copy_rules_from": [f"There is no market {source_code!r}."]}) from None
        codes = list(dict.fromkeys(data.pop("groups", [])))
        groups = {g.code: g for g in MarketGroup.objects.filter(code__in=codes, active=True)}
        if unknown := [code for code in codes if code not in groups]:
            raise ValidationError({"groups": [f"There is no active market group {', '.join(unknown)}."]})
        market = market_create_in_groups(
            actor=api_actor(request),
            groups=[groups[code] for code in codes],
            copy_from=source,
            via="api",
            **data,
        )
        response = Response(MarketSerializer(market).data, status=status.HTTP_201_CREATED)
        response["Location"] = f"{request.path}{market.code}/"
        return with_etag(response, "market", market.version)

    @extend_schema(
        summary="Deactivate a market (admins)",
        description=(
            "Publishes the market item with `active: false`; rules and positions stay. Every change "
            "in an inactive market is refused with 403 until it is reactivated."
        ),
        **_STATUS_CHANGE,
    )
    def deactivate(self, request: Request, code: str) -> Response:
        return self._status(request, code, activate=False)

    @extend_schema(summary="Reactivate a market (admins)", **_STATUS_CHANGE)
    def activate(self, request: Request, code: str) -> Response:
        return self._status(request, code, activate=True)

    def _status(self, request: Request, code: str, *, activate: bool) -> Response:
        market = market_or_404(request, code)
        service = market_activate if activate else market_deactivate
        market = service(
            actor=api_actor(request),
            market=market,
            expected_version=expected_version(request, "market"),
            via="api",
        )
        return with_etag(Response(MarketSerializer(market).data), "market", market.version)

    def retrieve(self, request: Request, code: str) -> Response:
        market = market_or_404(request, code)
        return with_etag(Response(MarketSerializer(market).data), "market", market.version)

    def partial_update(self, request: Request, code: str) -> Response:
        market = market_or_404(request, code, Action.EDIT_MARKET_SETTINGS)
        version = expected_version(request, "market")
        payload = MarketUpdateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        if approvals_needed(market, settings=True):
            op = Operation.settings(expected_version=version, **payload.validated_data)
            return deferred_response(
                changes_defer(
                    actor=api_actor(request),
                    market=market,
                    operations=[op],
                    title=f"Settings of {market.code}",
                    submit=True,
                    via="api",
                )
            )
        market = market_update(
            actor=api_actor(request),
            market=market,
            expected_version=version,
            via="api",
            **payload.validated_data,
        )
        return with_etag(Response(MarketSerializer(market).data), "market", market.version)


# --- rules -----------------------------------------------------------------------------------

_DEFERRED = OpenApiResponse(
    ChangeRequestSerializer,
    description="The market's approval policy needs approval: a change request was made instead.",
)
_RULE_WRITE_RESPONSES = {
    400: OpenApiResponse(
        description="Field errors (unknown tags or types, reversed window, a binding promote rule…)."
    ),
    403: OpenApiResponse(
        description="You may not edit this market's rules, or set or clear `binding` (market managers "
        "of the market and admins only; changing or deleting a binding rule needs the same right)."
    ),
    412: OpenApiResponse(description="The If-Match ETag is stale; the body has the current values."),
    202: _DEFERRED,
}


@extend_schema_view(
    list=extend_schema(summary="List a market's rules"),
    create=extend_schema(
        summary="Add a rule to a market",
        request=RuleWriteSerializer,
        responses={
            201: RuleSerializer,
            202: _DEFERRED,
            400: _RULE_WRITE_RESPONSES[400],
            403: _RULE_WRITE_RESPONSES[403],
        },
    ),
    retrieve=extend_schema(summary="Read a rule", description='ETag: `"rule-<version>"`.'),
    update=extend_schema(
        summary="Replace a rule",
        parameters=[if_match_parameter("rule")],
        request=RuleWriteSerializer,
        responses={200: RuleSerializer, **_RULE_WRITE_RESPONSES},
    ),
    partial_update=extend_schema(
        summary="Change some of a rule's fields",
        parameters=[if_match_parameter("rule")],
        request=RuleWriteSerializer(partial=True),
        responses={200: RuleSerializer, **_RULE_WRITE_RESPONSES},
    ),
    destroy=extend_schema(
        summary="Delete a rule",
        parameters=[if_match_parameter("rule")],
        responses={
            204: None,
            202: _DEFERRED,
            403: _RULE_WRITE_RESPONSES[403],
            412: _RULE_WRITE_RESPONSES[412],
        },
    ),
)
@extend_schema(parameters=[MARKET_CODE_PARAMETER])
class RuleViewSet(viewsets.GenericViewSet[Rule]):
    serializer_class = RuleSerializer
    pagination_class = RuleCursorPagination
    filterset_class = RuleFilter
    lookup_value_regex = r"\d+"

    def get_queryset(self, action: Action = Action.VIEW_MARKET) -> QuerySet[Rule]:
        if is_schema_view(self):
            return Rule.objects.none()
        market = market_or_404(self.request, self.kwargs["code"], action)
        return Rule.objects.filter(market=market).select_related("market", "author")

    def _rule(self, pk: int, action: Action = Action.VIEW_MARKET) -> Rule:
        try:
            return self.get_queryset(action).get(pk=pk)
        except Rule.DoesNotExist:
            raise NotFound(f"There is no rule {pk} in this market.") from None

    def _render(self, rule: Rule, status_code: int = status.HTTP_200_OK) -> Response:
        return with_etag(Response(RuleSerializer(rule).data, status=status_code), "rule", rule.version)

    def list(self, request: Request, code: str) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def create(self, request: Request, code: str) -> Response:
        market = market_or_404(request, code, Action.EDIT_RULES)
        payload = RuleWriteSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        if approvals_needed(market, rules=True):
            return deferred_response(
                changes_defer(
                    actor=api_actor(request),
                    market=market,
                    operations=[Operation.rule_create(**payload.validated_data)],
                    title=f"New {payload.validated_data['action']} rule in {market.code}",
                    submit=True,
                    via="api",
                )
            )
        rule = rule_create(actor=api_actor(request), market=market, via="api", **payload.validated_data)
        return self._render(rule, status.HTTP_201_CREATED)

    def retrieve(self, request: Request, code: str, pk: int) -> Response:
        return self._render(self._rule(pk))

    def update(self, request: Request, code: str, pk: int) -> Response:
        return self._change(request, pk, partial=False)

    def partial_update(self, request: Request, code: str, pk: int) -> Response:
        return self._change(request, pk, partial=True)

    def _change(self, request: Request, pk: int, *, partial: bool) -> Response:
        rule = self._rule(pk, Action.EDIT_RULES)
        version = expected_version(request, "rule")
        payload = RuleWriteSerializer(data=request.data, partial=partial)
        payload.is_valid(raise_exception=True)
        if approvals_needed(rule.market, rules=True):
            op = Operation.rule_update(rule, expected_version=version, **payload.validated_data)
            return deferred_response(
                changes_defer(
                    actor=api_actor(request),
                    market=rule.market,
                    operations=[op],
                    title=f"Change to rule #{rule.pk} in {rule.market.code}",
                    submit=True,
                    via="api",
                )
            )
        rule = rule_update(
            actor=api_actor(request),
            rule=rule,
            expected_version=version,
            via="api",
            **payload.validated_data,
        )
        return self._render(rule)

    def destroy(self, request: Request, code: str, pk: int) -> Response:
        rule = self._rule(pk, Action.EDIT_RULES)
        if approvals_needed(rule.market, rules=True):
            op = Operation.rule_delete(rule, expected_version=expected_version(request, "rule"))
            return deferred_response(
                changes_defer(
                    actor=api_actor(request),
                    market=rule.market,
                    operations=[op],
                    title=f"Delete rule #{rule.pk} in {rule.market.code}",
                    submit=True,
                    via="api",
                )
            )
        rule_delete(
            actor=api_actor(request),
            rule=rule,
            expected_version=expected_version(request, "rule"),
            via="api",
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- resolve ---------------------------------------------------------------------------------


class ResolveView(APIView):
    """What one market shows for one content item at one time, and why."""

    @extend_schema(
        summary="Resolve one item in a market",
        description=(
            "Runs the one positioning resolver: an item position whose window contains `at` wins, "
            "then hide rules, then promote rules (highest boost), then the market default. The "
            "reason also names the item's images blocked in the market (`image_blocks`)."
        ),
        parameters=[MARKET_CODE_PARAMETER, ResolveQuerySerializer],
        responses={
            200: DecisionSerializer,
            400: OpenApiResponse(description="Field errors (missing content_id, bad or naive `at`)."),
            404: OpenApiResponse(description="No such market or content item."),
        },
    )
    def get(self, request: Request, code: str) -> Response:
        market = market_or_404(request, code)
        query = ResolveQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        at = query.validated_data.get("at") or timezone.now()
        content_id = query.validated_data["content_id"]
        try:
            item = content_get(upstream_id=content_id)
        except ContentItem.DoesNotExist:
            raise NotFound(f"There is no content item {content_id!r}.") from None
        decision = item_states(market, [item], at)[item.pk].decision
        blocks = image_blocks_by_item(items=[item], markets=[market]).get((item.pk, market.pk), [])
        body = {
            "content_id": item.upstream_id,
            "market": market.code,
            "at": at,
            "visible": decision.visible,
            "state": decision.state,
            "decided_by": decision.decided_by,
            "step": decision.step,
            "source": decision.source,
            "binding": decision.binding,
            "boost": decision.boost,
            "slot": decision.slot,
            "rule_id": decision.rule_id,
            "reason": reason_with_image_blocks(decision.reason, blocks),
            "image_blocks": blocks,
        }
        return Response(DecisionSerializer(body).data)
