"""REST API of partner traffic (admins only, via `accounts.access`): minute and hour rollups, recommendations.

Every list is cursor-paged; a selector refuses other roles with AccessDenied (403).
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.partners import selectors as partner_selectors
from accounts.partners.models import PartnerApiKey
from accounts.partners.traffic import selectors
from accounts.partners.traffic.models import TrafficHour, TrafficMinute
from accounts.partners.traffic.serializers import (
    RecommendationFilterSerializer,
    RecommendationSerializer,
    TrafficFilterSerializer,
    TrafficHourSerializer,
    TrafficMinuteSerializer,
)
from portal.api.pagination import DefaultCursorPagination

TAGS = ["partner traffic"]
DENIED = OpenApiResponse(description="Not an admin.")
BAD_FILTER = OpenApiResponse(description="A filter is not valid.")


class MinutePagination(DefaultCursorPagination):
    ordering = ("-minute", "-id")  # type: ignore[assignment]  # DRF accepts a tuple; its stub says str


class HourPagination(DefaultCursorPagination):
    ordering = ("-hour", "-id")  # type: ignore[assignment]  # DRF accepts a tuple; its stub says str


FILTERS = [
    OpenApiParameter("key", OpenApiTypes.INT),
    OpenApiParameter("method", OpenApiTypes.STR),
    OpenApiParameter("since", OpenApiTypes.DATETIME),
    OpenApiParameter("until", OpenApiTypes.DATETIME),
]


def _filters(request: Any) -> dict[str, Any]:
    """The rollup lists' filters; the key through its selector (404 for an unknown key)."""
    filters = TrafficFilterSerializer(data=request.query_params)
    filters.is_valid(raise_exception=True)
    data: dict[str, Any] = dict(filters.validated_data)
    data["key"] = partner_selectors.key_get(user=request.user, pk=data["key"]) if "key" in data else None
    return data


class TrafficMinuteListView(generics.GenericAPIView[TrafficMinute]):
    serializer_class = TrafficMinuteSerializer
    pagination_class = MinutePagination

    def get_queryset(self) -> QuerySet[TrafficMinute]:
        if getattr(self, "swagger_fake_view", False):
            return TrafficMinute.objects.none()
        data = _filters(self.request)
        return selectors.traffic_minutes(
            user=self.request.user,
            key=data["key"],
            method=data.get("method"),
            since=data.get("since"),
            until=data.get("until"),
        )

    @extend_schema(
        tags=TAGS,
        summary="Traffic per key, stage, method and minute",
        description='Newest first. `method` is "/resource/METHOD", or "*" for all of a key\'s methods.',
        parameters=FILTERS,
        responses={
            200: TrafficMinuteSerializer(many=True),
            400: BAD_FILTER,
            403: DENIED,
            404: OpenApiResponse(description="No such key."),
        },
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(TrafficMinuteSerializer(page, many=True).data)


class TrafficHourListView(generics.GenericAPIView[TrafficHour]):
    serializer_class = TrafficHourSerializer
    pagination_class = HourPagination

    def get_queryset(self) -> QuerySet[TrafficHour]:
        if getattr(self, "swagger_fake_view", False):
            return TrafficHour.objects.none()
        data = _filters(self.request)
        return selectors.traffic_hours(
            user=self.request.user,
            key=data["key"],
            method=data.get("method"),
            since=data.get("since"),
            until=data.get("until"),
        )

    @extend_schema(
        tags=TAGS,
        summary="Traffic per key, stage, method and hour",
        description=(
            'Newest first, kept 400 days. `method` is "/resource/METHOD", or "*" for all of a key\'s'
            " methods. `since`/`until` select hours that start in [since, until)."
        ),
        parameters=FILTERS,
        responses={
            200: TrafficHourSerializer(many=True),
            400: BAD_FILTER,
            403: DENIED,
            404: OpenApiResponse(description="No such key."),
        },
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(TrafficHourSerializer(page, many=True).data)


class RecommendationListView(generics.GenericAPIView[PartnerApiKey]):
    serializer_class = RecommendationSerializer
    pagination_class = DefaultCursorPagination

    def get_queryset(self) -> QuerySet[PartnerApiKey]:
        if getattr(self, "swagger_fake_view", False):
            return PartnerApiKey.objects.none()
        filters = RecommendationFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        keys = partner_selectors.key_list(user=self.request.user).select_related("plan")
        if "key" in filters.validated_data:
            keys = keys.filter(pk=filters.validated_data["key"])
        if "plan" in filters.validated_data:
            keys = keys.filter(plan_id=filters.validated_data["plan"])
        return keys

    @extend_schema(
        tags=TAGS,
        summary="Plan recommendations per key, with their evidence",
        description=(
            "The last 30 days: steady rate and minute shares from the minute rollups (14 days), burst,"
            " 429s, requests and quota from the hourly rollups. `plan` lists the keys on one plan."
        ),
        parameters=[OpenApiParameter("key", OpenApiTypes.INT), OpenApiParameter("plan", OpenApiTypes.INT)],
        responses={200: RecommendationSerializer(many=True), 400: BAD_FILTER, 403: DENIED},
    )
    def get(self, request: Request) -> Response:
        keys = list(self.paginate_queryset(self.get_queryset()) or [])
        fits = selectors.traffic_plan_fits(user=request.user, keys=keys)
        return self.get_paginated_response(
            RecommendationSerializer([fits[key.pk] for key in keys], many=True).data
        )
