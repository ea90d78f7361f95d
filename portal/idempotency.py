"""Idempotency keys for the REST API: a retried write with the same key is answered, not redone.

A client (the nightly ingestion pipeline, a campaign script) sends `Idempotency-Key: <key>` with a
POST, PUT or PATCH under `/api/v1/`. The first request with a key is processed and its final answer
(2xx, or a 4xx that a retry would only repeat) is recorded per caller; a repeat with the same key,
method, path and body gets that answer again, marked `Idempotent-Replayed: true`, and changes
nothing. The same key with another body or path is a 422; a repeat while the first is still running
is a 409. Keys expire after 24 hours (docs/decisions/004-idempotency-keys.md).

It is one middleware rather than a mixin on each view so that no write endpoint can forget it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
METHODS = frozenset({"POST", "PUT", "PATCH"})
PATH_PREFIX = "/api/v1/"
TTL = timedelta(hours=24)
# A record still "in progress" after this long belongs to a request that died (a Lambda timeout
# kills the process without running our cleanup): Lambda's own ceiling is 15 minutes.
STALE_IN_PROGRESS = timedelta(minutes=15)
# Visible ASCII without spaces, so that proxies trimming or folding header whitespace cannot turn
# two different keys into one.
KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"
_KEY_RE = re.compile(KEY_PATTERN)
# A retry could get another answer to these (throttling, a concurrent request, credentials or
# roles fixed meanwhile), so they are not recorded and the retry is processed anew.
_UNRECORDED_STATUSES = frozenset({401, 403, 408, 409, 423, 425, 429})
_REPLAYED_HEADERS = ("Content-Type", "Location", "ETag", "Cache-Control", "Content-Language")
# Answers that carry a secret (API tokens, partner API keys) are recorded without it.
SECRET_FIELDS = ("secret",)
SECRET_REDACTED_DETAIL = (
    "This is a replay of an earlier request with the same Idempotency-Key. The secret was shown "
    "once, in the first answer, and is not stored: if it was lost, revoke this credential and "
    "create a new one."
)


class IdempotencyRecord(models.Model):
    """The first answer to a write sent with an Idempotency-Key, replayed to the caller's retries."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=8)
    path = models.TextField()
    body_sha256 = models.CharField(max_length=64)
    # Empty while the first request is still being processed.
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.BinaryField(default=b"")
    response_headers = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "portal"
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_unique_user_key"),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.path} [{self.key}] → {self.status_code or 'in progress'}"


def _problem(status: int, field: str, message: str) -> JsonResponse:
    response = JsonResponse({field: [message]}, status=status)
    response["Cache-Control"] = "no-store"
    return response


def _caller(request: HttpRequest) -> Any:
    """Return the user DRF will authenticate this request as, or None when it will refuse it."""
    from rest_framework.exceptions import APIException
    from rest_framework.request import Request
    from rest_framework.settings import api_settings

    classes: list[Any] = list(api_settings.DEFAULT_AUTHENTICATION_CLASSES)
    parser_classes: list[Any] = list(api_settings.DEFAULT_PARSER_CLASSES)
    # Read the body first: DRF's session check parses a POST for its CSRF token, and a parse of an
    # unread request consumes the stream the view still has to read.
    _ = request.body
    # A refused authentication sets `request.user` to AnonymousUser through DRF's wrapper, which
    # would log a session request out before its view runs (a 401 instead of the view's answer):
    # this is only a look-ahead, so whatever it did to the user is undone.
    had_user = hasattr(request, "user")
    original = getattr(request, "user", None)
    drf_request = Request(
        request,
        authenticators=[cls() for cls in classes],
        # The session check reads the CSRF token from the POST data, which needs the parsers.
        parsers=[cls() for cls in parser_classes],
    )
    try:
        user = drf_request.user
    except APIException:
        return None  # the view answers 401/403 itself; nothing to record
    finally:
        if had_user:
            request.user = original  # type: ignore[assignment]
        elif hasattr(request, "user"):
            del request.user
    return user if user is not None and user.is_authenticated else None


def _redact(body: bytes, content_type: str) -> bytes:
    if "json" not in content_type:
        return body
    try:
        data = json.loads(body)
    except ValueError:
        return body
    if not isinstance(data, dict) or not any(field in data for field in SECRET_FIELDS):
        return body
    for field in SECRET_FIELDS:
        if field in data:
            data[field] = ""
    data["detail"] = SECRET_REDACTED_DETAIL
    return json.dumps(data).encode()


def _replay(record: IdempotencyRecord) -> HttpResponse:
    response = HttpResponse(bytes(record.response_body), status=record.status_code)
    for name, value in record.response_headers.items():
        response[name] = value
    response[REPLAYED_HEADER] = "true"
    return response


def claim_key(*, user: Any, key: str, method: str, path: str, digest: str) -> tuple[bool, IdempotencyRecord]:
    """Insert the in-progress record for this key; return (True, it) or (False, the one that exists)."""
    now = timezone.now()
    # Lazy pruning: the caller's expired keys go when they next use one (see also the command).
    IdempotencyRecord.objects.filter(user=user, created_at__lt=now - TTL).delete()
    for _attempt in range(3):
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(
                    user=user, key=key, method=method, path=path, body_sha256=digest, created_at=now
                )
            return True, record
        except IntegrityError:
            existing = IdempotencyRecord.objects.filter(user=user, key=key).first()
            if existing is None:
                continue  # deleted between our insert and our read: try again
            abandoned = existing.status_code is None and existing.created_at < now - STALE_IN_PROGRESS
            if existing.created_at < now - TTL or abandoned:
                IdempotencyRecord.objects.filter(pk=existing.pk, created_at=existing.created_at).delete()
                continue
            return False, existing
    raise IntegrityError(f"Could not claim idempotency key {key!r}.")


class IdempotencyMiddleware:
    """Record the answer to a keyed API write and replay it to retries (see the module docstring)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        key = request.headers.get(HEADER)
        if key is None or request.method not in METHODS or not request.path.startswith(PATH_PREFIX):
            return self.get_response(request)
        if not _KEY_RE.match(key):
            return _problem(
                400, HEADER, "Send 1 to 255 visible ASCII characters without spaces (e.g. a UUID)."
            )
        user = _caller(request)
        if user is None:
            return self.get_response(request)
        method = request.method or "POST"
        digest = hashlib.sha256(request.body).hexdigest()
        created, record = claim_key(user=user, key=key, method=method, path=request.path, digest=digest)
        if not created:
            if (record.method, record.path, record.body_sha256) != (method, request.path, digest):
                return _problem(
                    422,
                    HEADER,
                    f"This key was already used for another request ({record.method} {record.path} with "
                    "another body). Use a new key for a new request.",
                )
            if record.status_code is None:
                busy = _problem(
                    409, HEADER, "A request with this key is still in progress. Retry in a few seconds."
                )
                busy["Retry-After"] = "2"
                return busy
            return _replay(record)
        try:
            response = self.get_response(request)
        except BaseException:
            IdempotencyRecord.objects.filter(pk=record.pk).delete()
            raise
        self._finish(record, response)
        return response

    @staticmethod
    def _finish(record: IdempotencyRecord, response: HttpResponse) -> None:
        final = 200 <= response.status_code < 300 or (
            400 <= response.status_code < 500 and response.status_code not in _UNRECORDED_STATUSES
        )
        if not final or getattr(response, "streaming", False):
            IdempotencyRecord.objects.filter(pk=record.pk).delete()
            return
        content_type = response.get("Content-Type", "")
        record.status_code = response.status_code
        record.response_body = _redact(response.content, content_type)
        record.response_headers = {
            name: response[name] for name in _REPLAYED_HEADERS if response.has_header(name)
        }
        record.completed_at = timezone.now()
        record.save(update_fields=["status_code", "response_body", "response_headers", "completed_at"])


def idempotency_prune(*, now: Any = None) -> int:
    """Delete records older than the 24-hour lifetime of a key; return how many were deleted."""
    cutoff = (now or timezone.now()) - TTL
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted


def add_idempotency_header(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: document the Idempotency-Key header on API writes."""
    parameter = {
        "in": "header",
        "name": HEADER,
        "required": False,
        "description": (
            "Optional. A retry with the same key, method, path and body within 24 hours gets the first "
            "answer again (with `Idempotent-Replayed: true`) and changes nothing. Secrets in a "
            "replayed answer are blanked. See docs/api.md."
        ),
        "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": KEY_PATTERN},
    }
    problem = {
        "description": "",
        "content": {"application/json": {"schema": {"type": "object", "additionalProperties": True}}},
    }
    answers = {
        "400": "Bad input, or a malformed Idempotency-Key.",
        "409": "A request with this Idempotency-Key is still in progress.",
        "422": "This Idempotency-Key was already used for a different request.",
    }
    for path, operations in result.get("paths", {}).items():
        if not path.startswith(PATH_PREFIX):
            continue
        for method, operation in operations.items():
            if method.upper() not in METHODS:
                continue
            operation.setdefault("parameters", []).append(parameter)
            responses = operation.setdefault("responses", {})
            for status, description in answers.items():
                responses.setdefault(status, {**problem, "description": description})
    return result
