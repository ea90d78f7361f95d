"""REST API for single sign-on group mappings (admins only): list, create, delete."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import User
from accounts.sso.models import SsoGroupMapping
from accounts.sso.selectors import sso_mapping_list
from accounts.sso.serializers import SsoGroupMappingCreateSerializer, SsoGroupMappingSerializer
from accounts.sso.services import sso_mapping_create, sso_mapping_delete
from portal.api.pagination import DefaultCursorPagination


@extend_schema_view(
    list=extend_schema(summary="List SSO group mappings (admins)"),
    create=extend_schema(
        summary="Map a provider group to a role (admins)",
        description="Applies at each user's next single sign-on login.",
        request=SsoGroupMappingCreateSerializer,
        responses={201: SsoGroupMappingSerializer, 400: OpenApiResponse(description="Field errors.")},
    ),
    destroy=extend_schema(
        summary="Delete an SSO group mapping (admins)",
        description="The memberships it granted go at each user's next single sign-on login.",
        responses={204: None, 404: OpenApiResponse(description="No such mapping.")},
    ),
)
class SsoGroupMappingViewSet(viewsets.GenericViewSet[SsoGroupMapping]):
    serializer_class = SsoGroupMappingSerializer
    pagination_class = DefaultCursorPagination

    def get_queryset(self) -> QuerySet[SsoGroupMapping]:
        if getattr(self, "swagger_fake_view", False):
            return SsoGroupMapping.objects.none()
        user: User = self.request.user  # type: ignore[assignment]
        return sso_mapping_list(user=user)

    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def create(self, request: Request) -> Response:
        payload = SsoGroupMappingCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        mapping = sso_mapping_create(
            actor=request.user,  # type: ignore[arg-type]
            group_name=payload.validated_data["group_name"],
            role=payload.validated_data["role"],
            market=payload.validated_data["market"],
            via="api",
        )
        return Response(SsoGroupMappingSerializer(mapping).data, status=status.HTTP_201_CREATED)

    def destroy(self, request: Request, pk: int) -> Response:
        mapping = self.get_queryset().filter(pk=pk).first()
        if mapping is None:
            raise NotFound("There is no such mapping.")
        sso_mapping_delete(actor=request.user, mapping=mapping, via="api")  # type: ignore[arg-type]
        return Response(status=status.HTTP_204_NO_CONTENT)
