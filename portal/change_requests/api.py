"""REST API for change requests: create, submit, approve, reject, withdraw, refresh, comment, list.

Requests in markets the caller may not see answer 404; a transition the caller may not make
answers 403 (the author approving their own request, a reviewer lacking a right in it).
"""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.access import Action, require
from markets.groups.selectors import group_get
from markets.models import Market, MarketGroup
from markets.selectors import market_get
from portal.api.actor import api_actor
from portal.api.etags import is_schema_view
from portal.api.pagination import DefaultCursorPagination
from portal.change_requests.filters import ChangeRequestFilter
from portal.change_requests.models import ApprovalPolicy, ChangeOperation, ChangeRequest
from portal.change_requests.selectors import requests_visible
from portal.change_requests.serializers import (
    ApprovalPolicySerializer,
    ChangeRequestCreateSerializer,
    ChangeRequestSerializer,
    CommentSerializer,
    CommentWriteSerializer,
    RejectSerializer,
)
from portal.change_requests.services import (
    group_policy_for,
    group_policy_set,
    policy_for,
    policy_set,
    request_approve,
    request_comment,
    request_create,
    request_refresh,
    request_reject,
    request_submit,
    request_withdraw,
)

_REFUSED = OpenApiResponse(description="You may not make this transition (e.g. approving your own request).")
_MISSING = OpenApiResponse(description="No such request in the markets you may see.")


def deferred_response(cr: ChangeRequest) -> Response:
    """202: the change needs approval and is now change request `cr` (the body), not a write."""
    return Response(ChangeRequestSerializer(cr).data, status=status.HTTP_202_ACCEPTED)


def _transition_schema(summary: str, request: object = None) -> dict[str, object]:
    return {
        "summary": summary,
        "request": request,
        "responses": {200: ChangeRequestSerializer, 403: _REFUSED, 404: _MISSING},
    }


@extend_schema_view(
    list=extend_schema(summary="List change requests (filter by state, market, author)"),
    retrieve=extend_schema(summary="Read a change request with its operations, approvals and comments"),
    create=extend_schema(
        summary="Create a change request (a draft, or submitted with submit=true)",
        request=ChangeRequestCreateSerializer,
        responses={
            201: ChangeRequestSerializer,
            400: OpenApiResponse(description="Field errors; nothing created."),
            403: OpenApiResponse(description="You may not make one of the changes in this market."),
        },
    ),
)
class ChangeRequestViewSet(viewsets.GenericViewSet[ChangeRequest]):
    serializer_class = ChangeRequestSerializer
    pagination_class = DefaultCursorPagination
    filterset_class = ChangeRequestFilter

    def get_queryset(self) -> QuerySet[ChangeRequest]:
        if is_schema_view(self):
            return ChangeRequest.objects.none()
        return requests_visible(user=self.request.user).prefetch_related(
            Prefetch("operations", queryset=ChangeOperation.objects.select_related("item")),
            "approvals__user",
            "comments__author",
        )

    def _get(self, pk: int) -> ChangeRequest:
        try:
            return self.get_queryset().get(pk=pk)
        except ChangeRequest.DoesNotExist:
            raise NotFound("There is no such change request.") from None

    def _render(self, pk: int) -> Response:
        return Response(ChangeRequestSerializer(self._get(pk)).data)

    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request: Request, pk: int) -> Response:
        return self._render(pk)

    def create(self, request: Request) -> Response:
        payload = ChangeRequestCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        if data["market"] is not None:
            require(api_actor(request), Action.VIEW_MARKET, data["market"])
        cr = request_create(
            actor=api_actor(request),
            market=data["market"],
            group=data["group"],
            title=data["title"],
            description=data["description"],
            apply_at=data["apply_at"],
            operations=data["operations"],
            submit=data["submit"],
            via="api",
        )
        return Response(ChangeRequestSerializer(self._get(cr.pk)).data, status=status.HTTP_201_CREATED)

    @extend_schema(**_transition_schema("Submit a draft for review"))  # type: ignore[arg-type]
    @action(detail=True, methods=["post"])
    def submit(self, request: Request, pk: int) -> Response:
        request_submit(actor=api_actor(request), request=self._get(pk), via="api")
        return self._render(pk)

    @extend_schema(**_transition_schema("Approve a submitted request (not your own)"))  # type: ignore[arg-type]
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: int) -> Response:
        request_approve(actor=api_actor(request), request=self._get(pk), via="api")
        return self._render(pk)

    @extend_schema(**_transition_schema("Reject a submitted or approved request", RejectSerializer))  # type: ignore[arg-type]
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: int) -> Response:
        payload = RejectSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        request_reject(
            actor=api_actor(request),
            request=self._get(pk),
            reason=payload.validated_data["reason"],
            via="api",
        )
        return self._render(pk)

    @extend_schema(**_transition_schema("Withdraw your request"))  # type: ignore[arg-type]
    @action(detail=True, methods=["post"])
    def withdraw(self, request: Request, pk: int) -> Response:
        request_withdraw(actor=api_actor(request), request=self._get(pk), via="api")
        return self._render(pk)

    @extend_schema(**_transition_schema("Rebase your request on the current versions"))  # type: ignore[arg-type]
    @action(detail=True, methods=["post"])
    def refresh(self, request: Request, pk: int) -> Response:
        request_refresh(actor=api_actor(request), request=self._get(pk), via="api")
        return self._render(pk)

    @extend_schema(
        summary="Comment on a request",
        request=CommentWriteSerializer,
        responses={201: CommentSerializer, 404: _MISSING},
    )
    @action(detail=True, methods=["post"])
    def comments(self, request: Request, pk: int) -> Response:
        payload = CommentWriteSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        comment = request_comment(
            actor=api_actor(request), request=self._get(pk), body=payload.validated_data["body"], via="api"
        )
        return Response(CommentSerializer(comment).data, status=status.HTTP_201_CREATED)


# --- approval policies ----------------------------------------------------------------------------


def _policy_body(policy: ApprovalPolicy | None) -> dict[str, object]:
    policy = policy or ApprovalPolicy()
    return ApprovalPolicySerializer(
        {
            "approvals_required": policy.approvals_required,
            "rules": policy.rules,
            "settings": policy.settings,
            "positions": policy.positions,
            "bulk_threshold": policy.bulk_threshold,
        }
    ).data


_POLICY_WRITE = {
    200: ApprovalPolicySerializer,
    400: OpenApiResponse(description="Field errors; nothing changed."),
    403: OpenApiResponse(description="You may not set this policy."),
    404: OpenApiResponse(description="No such market or group."),
}


class MarketPolicyView(APIView):
    """A market's approval policy: what needs approval there, and how many approvals."""

    def _market(self, request: Request, code: str, action: Action) -> Market:
        try:
            return market_get(user=request.user, code=code, action=action)
        except Market.DoesNotExist:
            raise NotFound(f"There is no market {code!r}.") from None

    @extend_schema(summary="Read a market's approval policy", responses={200: ApprovalPolicySerializer})
    def get(self, request: Request, code: str) -> Response:
        return Response(_policy_body(policy_for(self._market(request, code, Action.VIEW_MARKET))))

    @extend_schema(
        summary="Set a market's approval policy (its market managers, admins)",
        request=ApprovalPolicySerializer,
        responses=_POLICY_WRITE,
    )
    def put(self, request: Request, code: str) -> Response:
        market = self._market(request, code, Action.EDIT_MARKET_SETTINGS)
        payload = ApprovalPolicySerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        policy = policy_set(actor=api_actor(request), market=market, via="api", **payload.validated_data)
        return Response(_policy_body(policy))


class GroupPolicyView(APIView):
    """A market group's approval policy. A group change needs the strictest of it and the policies
    of the members that review such a change."""

    def _group(self, request: Request, code: str, action: Action) -> MarketGroup:
        try:
            return group_get(user=request.user, code=code, action=action)
        except MarketGroup.DoesNotExist:
            raise NotFound(f"There is no group {code!r}.") from None

    @extend_schema(summary="Read a group's approval policy", responses={200: ApprovalPolicySerializer})
    def get(self, request: Request, group: str) -> Response:
        return Response(_policy_body(group_policy_for(self._group(request, group, Action.VIEW_MARKET))))

    @extend_schema(
        summary="Set a group's approval policy (admins, managers of the group)",
        request=ApprovalPolicySerializer,
        responses=_POLICY_WRITE,
    )
    def put(self, request: Request, group: str) -> Response:
        found = self._group(request, group, Action.EDIT_MARKET_SETTINGS)
        payload = ApprovalPolicySerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        policy = group_policy_set(actor=api_actor(request), group=found, via="api", **payload.validated_data)
        return Response(_policy_body(policy))
