"""Optimistic concurrency over HTTP: ETags of versioned resources and the If-Match header.

A versioned resource's ETag is `"<kind>-<version>"`; a write that sends a stale one is refused
with 412 and the current values (docs/api.md).
"""

from __future__ import annotations

import re
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response


def if_match_parameter(kind: str) -> OpenApiParameter:
    """Return the documented If-Match header for resources whose ETag is `"<kind>-<version>"`."""
    return OpenApiParameter(
        "If-Match",
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        required=False,
        description=(
            f'The ETag you read (e.g. "{kind}-3"). When it is stale the change is refused with 412 '
            "and the current values; without it the change is unconditional."
        ),
    )


def etag(kind: str, version: int) -> str:
    """Return the strong ETag of a versioned resource: `"<kind>-<version>"`."""
    return f'"{kind}-{version}"'


def expected_version(request: Request, kind: str) -> int | None:
    """Return the version an If-Match header asks for, None when absent or `*`.

    Raises a 400 ValidationError when the header is not one of our ETags for `kind`.
    """
    header = request.headers.get("If-Match")
    if header is None or header.strip() == "*":
        return None
    match = re.fullmatch(rf'"{re.escape(kind)}-(\d+)"', header.strip())
    if match is None:
        raise serializers.ValidationError(
            {"If-Match": [f'Send the ETag you read, e.g. "{kind}-3" (with the quotes), or *.']}
        )
    return int(match[1])


def with_etag(response: Response, kind: str, version: int) -> Response:
    """Set the ETag header of `response` and return it."""
    response["ETag"] = etag(kind, version)
    return response


def is_schema_view(view: Any) -> bool:
    """Return whether drf-spectacular is inspecting `view` (there is no request to scope by)."""
    return bool(getattr(view, "swagger_fake_view", False))
