"""REST API for automation tokens: your own, or (admins) everyone's."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import ApiToken, User
from accounts.selectors import visible_tokens
from accounts.serializers import ApiTokenCreateSerializer, ApiTokenSerializer, IssuedApiTokenSerializer
from accounts.services import api_token_create, api_token_revoke
from portal.api.actor import api_actor
from portal.api.pagination import DefaultCursorPagination


class ApiTokenFilter(django_filters.FilterSet):
    user = django_filters.CharFilter(field_name="user__username", help_text="Admins: one user's tokens.")

    class Meta:
        model = ApiToken
        fields = ["user"]


@extend_schema_view(
    list=extend_schema(summary="List API tokens (yours; admins see everyone's)"),
    create=extend_schema(
        summary="Create an API token",
        description=(
            "The answer carries the secret. It is stored only as a hash and never shown again. "
            "Needs a logged-in session: a request authenticated with a token is refused (403)."
        ),
        request=ApiTokenCreateSerializer,
        responses={201: IssuedApiTokenSerializer, 400: OpenApiResponse(description="Field errors.")},
    ),
    destroy=extend_schema(
        summary="Revoke an API token",
        description="The token stops working at once and stays listed as revoked.",
        responses={204: None, 404: OpenApiResponse(description="No such token among those you may see.")},
    ),
)
class ApiTokenViewSet(viewsets.GenericViewSet[ApiToken]):
    serializer_class = ApiTokenSerializer
    pagination_class = DefaultCursorPagination
    filterset_class = ApiTokenFilter

    def get_queryset(self) -> QuerySet[ApiToken]:
        if getattr(self, "swagger_fake_view", False):
            return ApiToken.objects.none()
        return visible_tokens(api_actor(self.request))

    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def create(self, request: Request) -> Response:
        if isinstance(request.auth, ApiToken):
            # A leaked token must not be able to mint fresh, longer-lived ones that survive its
            # own revocation: new tokens come from a logged-in person or the command line.
            raise PermissionDenied(
                "Create tokens from the portal or with manage.py api_token, not with a token."
            )
        payload = ApiTokenCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        owner = api_actor(request)
        username = payload.validated_data.get("user")
        if username and username != owner.get_username():
            found = User.objects.filter(username=username).first()
            if found is None:
                raise serializers.ValidationError({"user": [f"There is no user {username!r}."]})
            owner = found
        issued = api_token_create(
            actor=api_actor(request),
            user=owner,
            name=payload.validated_data["name"],
            expires_at=payload.expiry(),
            never_expires=payload.validated_data["never_expires"],
            via="api",
        )
        issued.token.secret = issued.secret  # type: ignore[attr-defined]  # shown once, never a model field
        response = Response(IssuedApiTokenSerializer(issued.token).data, status=status.HTTP_201_CREATED)
        response["Cache-Control"] = "no-store"
        return response

    def destroy(self, request: Request, pk: int) -> Response:
        token = self.get_queryset().filter(pk=pk).first()
        if token is None:
            raise NotFound("There is no such token among yours.")
        api_token_revoke(actor=api_actor(request), token=token, via="api")
        return Response(status=status.HTTP_204_NO_CONTENT)
