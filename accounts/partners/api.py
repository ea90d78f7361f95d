"""REST API for partners, usage plans and partner API keys (admins only, via `accounts.access`).

Views parse, call one service or selector, and answer; the services raise AccessDenied (403),
ValidationError (400 with field errors) and selectors Http404.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.access import Action, require
from accounts.partners import selectors, services
from accounts.partners.gateway import GatewayError
from accounts.partners.models import KeyStatus, KeyUsage, Partner, PartnerApiKey, QuotaTopUp, UsagePlan
from accounts.partners.serializers import (
    AlertsSerializer,
    IssuedKeySerializer,
    KeyIssueSerializer,
    KeyRotateSerializer,
    KeyUsageSerializer,
    PartnerKeySerializer,
    PartnerSerializer,
    PartnerWriteSerializer,
    TopUpCreateSerializer,
    TopUpSerializer,
    UsagePlanSerializer,
    UsagePlanWriteSerializer,
    UsageSyncResultSerializer,
)
from portal.api.actor import api_actor
from portal.bounds import whole_number

TAGS = ["partners"]
DENIED = OpenApiResponse(description="Not an admin.")
FIELD_ERRORS = OpenApiResponse(description="Field errors.")
NOT_FOUND = OpenApiResponse(description="No such object.")


def _secret_response(issued: services.IssuedKey, context: dict[str, Any]) -> Response:
    data = IssuedKeySerializer({"key": issued.key, "secret": issued.secret}, context=context).data
    response = Response(data, status=status.HTTP_201_CREATED)
    response["Cache-Control"] = "no-store"
    return response


def _key_context(view: APIView, keys: list[PartnerApiKey]) -> dict[str, Any]:
    return {"request": view.request, "usage": selectors.usage_summaries(keys)}


# --- partners ------------------------------------------------------------------------------------
class PartnerListView(generics.GenericAPIView[Partner]):
    serializer_class = PartnerSerializer

    def get_queryset(self) -> QuerySet[Partner]:
        if getattr(self, "swagger_fake_view", False):
            return Partner.objects.none()
        return selectors.partner_list(user=self.request.user)

    @extend_schema(
        tags=TAGS, summary="List partners", responses={200: PartnerSerializer(many=True), 403: DENIED}
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(PartnerSerializer(page, many=True).data)

    @extend_schema(
        tags=TAGS,
        summary="Add a partner",
        request=PartnerWriteSerializer,
        responses={201: PartnerSerializer, 400: FIELD_ERRORS, 403: DENIED},
    )
    def post(self, request: Request) -> Response:
        require(request.user, Action.MANAGE_PARTNERS)
        payload = PartnerWriteSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        partner = services.partner_create(actor=api_actor(request), via="api", **payload.validated_data)
        return Response(PartnerSerializer(partner).data, status=status.HTTP_201_CREATED)


class PartnerDetailView(APIView):
    @extend_schema(
        tags=TAGS, summary="Read a partner", responses={200: PartnerSerializer, 403: DENIED, 404: NOT_FOUND}
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(PartnerSerializer(selectors.partner_get(user=request.user, pk=pk)).data)

    @extend_schema(
        tags=TAGS,
        summary="Change a partner",
        description="Send only the fields that change. An inactive partner's keys stop working.",
        request=PartnerWriteSerializer,
        responses={200: PartnerSerializer, 400: FIELD_ERRORS, 403: DENIED, 404: NOT_FOUND},
    )
    def patch(self, request: Request, pk: int) -> Response:
        partner = selectors.partner_get(user=request.user, pk=pk)
        payload = PartnerWriteSerializer(data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        partner = services.partner_update(
            actor=api_actor(request), partner=partner, via="api", **payload.validated_data
        )
        return Response(PartnerSerializer(partner).data)


# --- usage plans -----------------------------------------------------------------------------------
def _plan_input(plan: UsagePlan | None, payload: UsagePlanWriteSerializer) -> services.PlanInput:
    data = payload.validated_data
    current: dict[str, Any] = {}
    if plan is not None:
        current = {
            "name": plan.name,
            "description": plan.description,
            "rate_limit": plan.rate_limit,
            "burst_limit": plan.burst_limit,
            "quota_limit": plan.quota_limit,
            "quota_period": plan.quota_period,
            "quota_offset": plan.quota_offset,
            "api_stages": list(plan.api_stages),
            "method_throttles": list(services.plan_spec(plan).method_throttles),
        }
    merged = {**current, **{k: v for k, v in data.items() if k != "method_throttles"}}
    if "quota_limit" in data and data["quota_limit"] is None and "quota_period" not in data:
        # "quota_limit": null means "no quota": its period and offset go with it.
        merged["quota_period"], merged["quota_offset"] = "", 0
    throttles = payload.throttles()
    if throttles is not None:
        merged["method_throttles"] = throttles
    return services.PlanInput(
        name=merged["name"],
        description=merged.get("description") or "",
        rate_limit=merged["rate_limit"],
        burst_limit=merged["burst_limit"],
        quota_limit=merged.get("quota_limit"),
        quota_period=merged.get("quota_period") or "",
        quota_offset=merged.get("quota_offset") or 0,
        api_stages=merged["api_stages"],
        method_throttles=merged.get("method_throttles") or [],
    )


class UsagePlanListView(generics.GenericAPIView[UsagePlan]):
    serializer_class = UsagePlanSerializer

    def get_queryset(self) -> QuerySet[UsagePlan]:
        if getattr(self, "swagger_fake_view", False):
            return UsagePlan.objects.none()
        return selectors.plan_list(user=self.request.user)

    @extend_schema(
        tags=TAGS, summary="List usage plans", responses={200: UsagePlanSerializer(many=True), 403: DENIED}
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(UsagePlanSerializer(page, many=True).data)

    @extend_schema(
        tags=TAGS,
        summary="Create a usage plan",
        description="Validated as API Gateway would (stages must exist; DAY/WEEK/MONTH; offsets; ranges), "
        "then synced to the gateway.",
        request=UsagePlanWriteSerializer,
        responses={201: UsagePlanSerializer, 400: FIELD_ERRORS, 403: DENIED},
    )
    def post(self, request: Request) -> Response:
        require(request.user, Action.MANAGE_PARTNERS)
        payload = UsagePlanWriteSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        plan = services.plan_create(actor=api_actor(request), data=_plan_input(None, payload), via="api")
        plan = selectors.plan_get(user=request.user, pk=plan.pk)
        return Response(UsagePlanSerializer(plan).data, status=status.HTTP_201_CREATED)


class UsagePlanDetailView(APIView):
    @extend_schema(
        tags=TAGS,
        summary="Read a usage plan",
        responses={200: UsagePlanSerializer, 403: DENIED, 404: NOT_FOUND},
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(UsagePlanSerializer(selectors.plan_get(user=request.user, pk=pk)).data)

    @extend_schema(
        tags=TAGS,
        summary="Change a usage plan",
        description="Send only the fields that change; the gateway gets them in one batched update.",
        request=UsagePlanWriteSerializer,
        responses={200: UsagePlanSerializer, 400: FIELD_ERRORS, 403: DENIED, 404: NOT_FOUND},
    )
    def patch(self, request: Request, pk: int) -> Response:
        plan = selectors.plan_get(user=request.user, pk=pk)
        payload = UsagePlanWriteSerializer(data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        services.plan_update(actor=api_actor(request), plan=plan, data=_plan_input(plan, payload), via="api")
        return Response(UsagePlanSerializer(selectors.plan_get(user=request.user, pk=pk)).data)

    @extend_schema(
        tags=TAGS,
        summary="Delete a usage plan",
        description="Refused (400) while active or suspended keys use it.",
        responses={204: None, 400: FIELD_ERRORS, 403: DENIED, 404: NOT_FOUND},
    )
    def delete(self, request: Request, pk: int) -> Response:
        plan = selectors.plan_get(user=request.user, pk=pk)
        services.plan_delete(actor=api_actor(request), plan=plan, via="api")
        return Response(status=status.HTTP_204_NO_CONTENT)


class UsagePlanRetryView(APIView):
    @extend_schema(
        tags=TAGS,
        summary="Retry a usage plan's gateway sync",
        request=None,
        responses={200: UsagePlanSerializer, 403: DENIED, 404: NOT_FOUND},
    )
    def post(self, request: Request, pk: int) -> Response:
        plan = selectors.plan_get(user=request.user, pk=pk)
        services.plan_retry_sync(actor=api_actor(request), plan=plan)
        return Response(UsagePlanSerializer(selectors.plan_get(user=request.user, pk=pk)).data)


# --- keys ------------------------------------------------------------------------------------------
class PartnerKeyListView(generics.GenericAPIView[PartnerApiKey]):
    serializer_class = PartnerKeySerializer

    def get_queryset(self) -> QuerySet[PartnerApiKey]:
        if getattr(self, "swagger_fake_view", False):
            return PartnerApiKey.objects.none()
        params = self.request.query_params
        status_filter = params.get("status")
        return selectors.key_list(
            user=self.request.user,
            partner_id=whole_number(params.get("partner")),
            plan_id=whole_number(params.get("plan")),
            status=status_filter if status_filter in KeyStatus.values else None,
        )

    @extend_schema(
        tags=TAGS,
        summary="List partner API keys",
        parameters=[
            OpenApiParameter("partner", OpenApiTypes.INT, description="Only this partner's keys."),
            OpenApiParameter("plan", OpenApiTypes.INT, description="Only keys on this plan."),
            OpenApiParameter("status", OpenApiTypes.STR, enum=KeyStatus.values),
        ],
        responses={200: PartnerKeySerializer(many=True), 403: DENIED},
    )
    def get(self, request: Request) -> Response:
        page = list(self.paginate_queryset(self.get_queryset()) or [])
        return self.get_paginated_response(
            PartnerKeySerializer(page, many=True, context=_key_context(self, page)).data
        )

    @extend_schema(
        tags=TAGS,
        summary="Issue a partner API key",
        description="The answer carries the secret. Meridian keeps only its hash and never shows it again.",
        request=KeyIssueSerializer,
        responses={201: IssuedKeySerializer, 400: FIELD_ERRORS, 403: DENIED},
    )
    def post(self, request: Request) -> Response:
        require(request.user, Action.MANAGE_PARTNERS)
        payload = KeyIssueSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        issued = services.key_issue(actor=api_actor(request), via="api", **payload.validated_data)
        return _secret_response(issued, _key_context(self, [issued.key]))


class PartnerKeyDetailView(APIView):
    @extend_schema(
        tags=TAGS,
        summary="Read a partner API key",
        responses={200: PartnerKeySerializer, 403: DENIED, 404: NOT_FOUND},
    )
    def get(self, request: Request, pk: int) -> Response:
        key = selectors.key_get(user=request.user, pk=pk)
        return Response(PartnerKeySerializer(key, context=_key_context(self, [key])).data)


def _key_action(view: APIView, request: Request, pk: int, service: Any) -> Response:
    key = selectors.key_get(user=request.user, pk=pk)
    key = service(actor=api_actor(request), key=key, via="api")
    return Response(PartnerKeySerializer(key, context=_key_context(view, [key])).data)


KEY_ACTION_RESPONSES = {200: PartnerKeySerializer, 400: FIELD_ERRORS, 403: DENIED, 404: NOT_FOUND}


class PartnerKeySuspendView(APIView):
    @extend_schema(
        tags=TAGS,
        summary="Suspend a key",
        description="Requests with it are refused (403) until it is resumed.",
        request=None,
        responses=KEY_ACTION_RESPONSES,
    )
    def post(self, request: Request, pk: int) -> Response:
        return _key_action(self, request, pk, services.key_suspend)


class PartnerKeyResumeView(APIView):
    @extend_schema(
        tags=TAGS,
        summary="Resume a suspended key",
        request=None,
        responses=KEY_ACTION_RESPONSES,
    )
    def post(self, request: Request, pk: int) -> Response:
        return _key_action(self, request, pk, services.key_resume)


class PartnerKeyRevokeView(APIView):
    @extend_schema(
        tags=TAGS,
        summary="Revoke a key",
        description="Permanent: the gateway deletes the key. Revoking twice is harmless.",
        request=None,
        responses=KEY_ACTION_RESPONSES,
    )
    def post(self, request: Request, pk: int) -> Response:
        return _key_action(self, request, pk, services.key_revoke)


class PartnerKeyRotateView(APIView):
    @extend_schema(
        tags=TAGS,
        summary="Rotate a key",
        description="Issues a new key on the same plan that inherits the remaining quota; the old key keeps "
        "working for `grace_hours`, then expires. The answer carries the new secret, shown once.",
        request=KeyRotateSerializer,
        responses={201: IssuedKeySerializer, 400: FIELD_ERRORS, 403: DENIED, 404: NOT_FOUND},
    )
    def post(self, request: Request, pk: int) -> Response:
        key = selectors.key_get(user=request.user, pk=pk)
        payload = KeyRotateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        grace = timedelta(hours=payload.validated_data["grace_hours"])
        issued = services.key_rotate(actor=api_actor(request), key=key, grace=grace, via="api")
        return _secret_response(issued, _key_context(self, [issued.key]))


class PartnerKeyRetryView(APIView):
    @extend_schema(
        tags=TAGS,
        summary="Retry a key's gateway sync",
        description="A key that never reached the gateway is re-issued with a new secret (201, shown once).",
        request=None,
        responses={200: PartnerKeySerializer, 201: IssuedKeySerializer, 403: DENIED, 404: NOT_FOUND},
    )
    def post(self, request: Request, pk: int) -> Response:
        key = selectors.key_get(user=request.user, pk=pk)
        issued = services.key_retry_sync(actor=api_actor(request), key=key, via="api")
        if issued is not None:
            return _secret_response(issued, _key_context(self, [issued.key]))
        key = selectors.key_get(user=request.user, pk=pk)
        return Response(PartnerKeySerializer(key, context=_key_context(self, [key])).data)


class PartnerKeyTopUpView(APIView):
    @extend_schema(
        tags=TAGS,
        summary="List a key's top-ups",
        responses={200: TopUpSerializer(many=True), 403: DENIED, 404: NOT_FOUND},
    )
    def get(self, request: Request, pk: int) -> Response:
        key = selectors.key_get(user=request.user, pk=pk)
        return Response(TopUpSerializer(selectors.key_top_ups(user=request.user, key=key), many=True).data)

    @extend_schema(
        tags=TAGS,
        summary="Top up a key's quota",
        description="Extra requests for the current quota period, with a recorded reason.",
        request=TopUpCreateSerializer,
        responses={201: TopUpSerializer, 400: FIELD_ERRORS, 403: DENIED, 404: NOT_FOUND},
    )
    def post(self, request: Request, pk: int) -> Response:
        key = selectors.key_get(user=request.user, pk=pk)
        payload = TopUpCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        top_up = services.key_top_up(actor=api_actor(request), key=key, via="api", **payload.validated_data)
        top_up = QuotaTopUp.objects.select_related("created_by").get(pk=top_up.pk)
        return Response(TopUpSerializer(top_up).data, status=status.HTTP_201_CREATED)


class PartnerKeyUsageView(APIView):
    @extend_schema(
        tags=TAGS,
        summary="A key's usage per day",
        parameters=[
            OpenApiParameter("days", OpenApiTypes.INT, description="How many days back (1-90, default 30).")
        ],
        responses={200: KeyUsageSerializer(many=True), 403: DENIED, 404: NOT_FOUND},
    )
    def get(self, request: Request, pk: int) -> Response:
        key = selectors.key_get(user=request.user, pk=pk)
        raw = request.query_params.get("days", "30")
        days = whole_number(raw)
        if days is None or not 1 <= days <= 90:
            raise ValidationError({"days": ["Give a whole number of days from 1 to 90."]})
        chart = selectors.key_usage_chart(user=request.user, key=key, days=days)
        rows = [KeyUsage(day=d.day, used=d.used, remaining=None) for d in chart.days]
        stored = {u.day: u.remaining for u in KeyUsage.objects.filter(key=key, day__gte=chart.days[0].day)}
        for row in rows:
            row.remaining = stored.get(row.day)
        return Response(KeyUsageSerializer(rows, many=True).data)


class PartnerAlertsView(APIView):
    @extend_schema(
        tags=TAGS,
        summary="Quota alerts and keys about to expire",
        description="Keys past 50 / 80 / 100 % of their quota this period, and usable keys expiring "
        "within 7 days.",
        responses={200: AlertsSerializer, 403: DENIED},
    )
    def get(self, request: Request) -> Response:
        require(request.user, Action.MANAGE_PARTNERS)
        alerts = selectors.quota_alerts(user=request.user)
        expiring = selectors.expiring_keys(user=request.user)
        context = {"request": request, "usage": {a.key.pk: a.usage for a in alerts}}
        data = AlertsSerializer(
            {"quota": [{"level": a.level, "key": a.key} for a in alerts], "expiring": expiring},
            context=context,
        ).data
        return Response(data)


class UsageSyncView(APIView):
    @extend_schema(
        tags=TAGS,
        summary="Refresh usage from the gateway now",
        description="What the hourly job does: store each key's usage of today and yesterday.",
        request=None,
        responses={
            200: UsageSyncResultSerializer,
            403: DENIED,
            502: OpenApiResponse(description="Gateway error."),
        },
    )
    def post(self, request: Request) -> Response:
        require(request.user, Action.MANAGE_PARTNERS)
        try:
            rows = services.usage_sync(days=2)
        except GatewayError as exc:
            return Response({"detail": f"The gateway failed: {exc}"}, status=status.HTTP_502_BAD_GATEWAY)
        return Response({"rows": rows})
