"""REST API for market groups, their members and rules (thin: parse, call, render).

A group that does not exist answers 404; one the caller may not see or act on answers 403.
Creating, changing and retiring groups and their members is for admins; a group's rules for
market managers of every member (or of the group).
"""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.access import Action, require
from markets.groups.filters import GroupFilter, GroupRuleFilter
from markets.groups.selectors import group_get, group_list, group_member_codes
from markets.groups.serializers import (
    GroupCreateSerializer,
    GroupMembersResultSerializer,
    GroupMembersSerializer,
    GroupRuleSerializer,
    GroupRuleWriteSerializer,
    GroupSerializer,
    GroupUpdateSerializer,
)
from markets.groups.services import (
    group_create,
    group_members_set,
    group_rule_create,
    group_rule_delete,
    group_rule_update,
    group_update,
)
from markets.models import GroupRule, MarketGroup
from portal.api.actor import api_actor
from portal.api.etags import expected_version, if_match_parameter, is_schema_view, with_etag
from portal.api.pagination import DefaultCursorPagination
from portal.change_requests.api import deferred_response
from portal.change_requests.serializers import ChangeRequestSerializer
from portal.change_requests.services import Operation, group_approvals_needed, group_changes_defer

GROUP_CODE_PARAMETER = OpenApiParameter(
    "group", OpenApiTypes.STR, OpenApiParameter.PATH, description="Group code, e.g. DACH or EU."
)
_WRITE_RESPONSES = {
    400: OpenApiResponse(description="Field errors; nothing changed."),
    412: OpenApiResponse(description="The If-Match ETag is stale; the body has the current values."),
}
_DEFERRED = OpenApiResponse(
    ChangeRequestSerializer,
    description="The group's approval policy, or a member market's, needs approval: a submitted group "
    "change request was made instead.",
)


def group_or_404(request: Request, code: str, action: Action = Action.VIEW_MARKET) -> MarketGroup:
    """Return the group `code` if the caller may see it (and do `action` in it).

    Raises NotFound (404) when it does not exist and AccessDenied (403) when the caller may not.
    """
    if "\x00" in code:
        raise NotFound("There is no such group.")
    try:
        return group_get(user=request.user, code=code, action=action)
    except MarketGroup.DoesNotExist:
        raise NotFound(f"There is no group {code!r}.") from None


def _deferred(request: Request, group: MarketGroup, operation: Operation, title: str) -> Response:
    """202: the group change needs approval (the group's or a member's policy) and is now a
    submitted group change request."""
    return deferred_response(
        group_changes_defer(
            actor=api_actor(request), group=group, operations=[operation], title=title, submit=True, via="api"
        )
    )


class GroupCursorPagination(DefaultCursorPagination):
    ordering = "code"


class GroupRuleCursorPagination(DefaultCursorPagination):
    ordering = "id"


def _render(group: MarketGroup, status_code: int = status.HTTP_200_OK) -> Response:
    return with_etag(Response(GroupSerializer(group).data, status=status_code), "group", group.version)


@extend_schema_view(
    list=extend_schema(summary="List the market groups you may see"),
    create=extend_schema(
        summary="Create a market group (admins)",
        request=GroupCreateSerializer,
        responses={201: GroupSerializer, 400: _WRITE_RESPONSES[400]},
    ),
    retrieve=extend_schema(
        summary="Read a market group",
        parameters=[GROUP_CODE_PARAMETER],
        description='ETag: `"group-<version>"`.',
    ),
    partial_update=extend_schema(
        summary="Rename, describe, reprioritise or retire a group (admins)",
        parameters=[GROUP_CODE_PARAMETER, if_match_parameter("group")],
        request=GroupUpdateSerializer,
        responses={200: GroupSerializer, **_WRITE_RESPONSES},
    ),
)
class GroupViewSet(viewsets.GenericViewSet[MarketGroup]):
    serializer_class = GroupSerializer
    pagination_class = GroupCursorPagination
    filterset_class = GroupFilter
    lookup_field = "code"
    lookup_url_kwarg = "group"
    lookup_value_regex = "[^/]+"

    def get_queryset(self) -> QuerySet[MarketGroup]:
        if is_schema_view(self):
            return MarketGroup.objects.none()
        return group_list(user=self.request.user)

    def list(self, request: Request) -> Response:
        require(request.user, Action.VIEW_MARKET)
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def create(self, request: Request) -> Response:
        require(request.user, Action.MANAGE_MARKETS)
        payload = GroupCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        group = group_create(actor=api_actor(request), via="api", **payload.validated_data)
        return _render(group_or_404(request, group.code), status.HTTP_201_CREATED)

    def retrieve(self, request: Request, group: str) -> Response:
        return _render(group_or_404(request, group))

    def partial_update(self, request: Request, group: str) -> Response:
        found = group_or_404(request, group, Action.MANAGE_MARKETS)
        version = expected_version(request, "group")
        payload = GroupUpdateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        group_update(
            actor=api_actor(request),
            group=found,
            expected_version=version,
            via="api",
            **payload.validated_data,
        )
        return _render(group_or_404(request, group))


class GroupMembersView(APIView):
    """A group's member markets."""

    @extend_schema(
        summary="List a group's member markets",
        parameters=[GROUP_CODE_PARAMETER],
        responses={200: GroupMembersResultSerializer},
    )
    def get(self, request: Request, group: str) -> Response:
        found = group_or_404(request, group)
        body = {"joined": [], "left": [], "members": group_member_codes(found)}
        return Response(GroupMembersResultSerializer(body).data)

    @extend_schema(
        summary="Add and remove member markets (admins)",
        description='Audited per market ("DE joined DACH"); the markets\' shared items list their groups.',
        parameters=[GROUP_CODE_PARAMETER, if_match_parameter("group")],
        request=GroupMembersSerializer,
        responses={200: GroupMembersResultSerializer, **_WRITE_RESPONSES},
    )
    def post(self, request: Request, group: str) -> Response:
        found = group_or_404(request, group, Action.MANAGE_MARKETS)
        version = expected_version(request, "group")
        payload = GroupMembersSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        joined, left = group_members_set(
            actor=api_actor(request),
            group=found,
            add=payload.validated_data["add"],
            remove=payload.validated_data["remove"],
            expected_version=version,
            via="api",
        )
        fresh = group_or_404(request, group)
        body = {"joined": joined, "left": left, "members": group_member_codes(fresh)}
        return with_etag(Response(GroupMembersResultSerializer(body).data), "group", fresh.version)


@extend_schema_view(
    list=extend_schema(summary="List a group's rules"),
    create=extend_schema(
        summary="Add a rule to a group",
        request=GroupRuleWriteSerializer,
        responses={201: GroupRuleSerializer, 202: _DEFERRED, 400: _WRITE_RESPONSES[400]},
    ),
    retrieve=extend_schema(summary="Read a group rule", description='ETag: `"rule-<version>"`.'),
    partial_update=extend_schema(
        summary="Change some of a group rule's fields",
        parameters=[if_match_parameter("rule")],
        request=GroupRuleWriteSerializer(partial=True),
        responses={200: GroupRuleSerializer, 202: _DEFERRED, **_WRITE_RESPONSES},
    ),
    destroy=extend_schema(
        summary="Delete a group rule",
        parameters=[if_match_parameter("rule")],
        responses={204: None, 202: _DEFERRED, 412: _WRITE_RESPONSES[412]},
    ),
)
@extend_schema(parameters=[GROUP_CODE_PARAMETER])
class GroupRuleViewSet(viewsets.GenericViewSet[GroupRule]):
    serializer_class = GroupRuleSerializer
    pagination_class = GroupRuleCursorPagination
    filterset_class = GroupRuleFilter
    lookup_value_regex = r"\d+"

    def get_queryset(self, action: Action = Action.VIEW_MARKET) -> QuerySet[GroupRule]:
        if is_schema_view(self):
            return GroupRule.objects.none()
        group = group_or_404(self.request, self.kwargs["group"], action)
        return GroupRule.objects.filter(group=group).select_related("group", "author")

    def _rule(self, pk: int, action: Action = Action.VIEW_MARKET) -> GroupRule:
        try:
            return self.get_queryset(action).get(pk=pk)
        except GroupRule.DoesNotExist:
            raise NotFound(f"There is no rule {pk} in this group.") from None

    def _render(self, rule: GroupRule, status_code: int = status.HTTP_200_OK) -> Response:
        return with_etag(Response(GroupRuleSerializer(rule).data, status=status_code), "rule", rule.version)

    def list(self, request: Request, group: str) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def create(self, request: Request, group: str) -> Response:
        found = group_or_404(request, group, Action.EDIT_RULES)
        payload = GroupRuleWriteSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        if group_approvals_needed(found, rules=True):
            return _deferred(
                request,
                found,
                Operation.rule_create(**payload.validated_data),
                f"New {payload.validated_data['action']} rule in group {found.code}",
            )
        rule = group_rule_create(actor=api_actor(request), group=found, via="api", **payload.validated_data)
        return self._render(rule, status.HTTP_201_CREATED)

    def retrieve(self, request: Request, group: str, pk: int) -> Response:
        return self._render(self._rule(pk))

    def partial_update(self, request: Request, group: str, pk: int) -> Response:
        rule = self._rule(pk, Action.EDIT_RULES)
        version = expected_version(request, "rule")
        payload = GroupRuleWriteSerializer(data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        if group_approvals_needed(rule.group, rules=True):
            return _deferred(
                request,
                rule.group,
                Operation.rule_update(rule, expected_version=version, **payload.validated_data),
                f"Change to rule #{rule.pk} in group {rule.group.code}",
            )
        rule = group_rule_update(
            actor=api_actor(request), rule=rule, expected_version=version, via="api", **payload.validated_data
        )
        return self._render(rule)

    def destroy(self, request: Request, group: str, pk: int) -> Response:
        rule = self._rule(pk, Action.EDIT_RULES)
        if group_approvals_needed(rule.group, rules=True):
            return _deferred(
                request,
                rule.group,
                Operation.rule_delete(rule, expected_version=expected_version(request, "rule")),
                f"Delete rule #{rule.pk} in group {rule.group.code}",
            )
        group_rule_delete(
            actor=api_actor(request), rule=rule, expected_version=expected_version(request, "rule"), via="api"
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
