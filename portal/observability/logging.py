"""JSON log lines for CloudWatch Logs (Insights can filter on every field), plain text locally.

One line per request (`meridian.request`): API Gateway's and Lambda's request ids, user, role,
market, view, method, status and duration. One line per background job run (`meridian.job`): job,
attempt, outcome, duration. Every other log line carries whatever context is bound at the time.
Secrets never reach a line: headers, bodies and query strings are not logged, and any field whose
name looks like a credential is replaced by "[redacted]" whatever its value.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from django.http import HttpRequest, HttpResponse

from portal.observability import context

REDACTED = "[redacted]"
_SECRET_NAME = re.compile(
    r"secret|password|passwd|token|authorization|api[_-]?key|cookie|session|credential", re.I
)
# The attributes every LogRecord has; anything else came from `extra=` and is logged as a field.
_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "meridian_context",
}

# A job's outcome decides its line's level: a retry is worth a look, a final failure an alarm.
_OUTCOME_LEVELS = {
    "failed": logging.ERROR,
    "dead": logging.ERROR,
    "retrying": logging.WARNING,
    "queued": logging.WARNING,
}

request_logger = logging.getLogger("meridian.request")
job_logger = logging.getLogger("meridian.job")


def install_record_factory() -> None:
    """Stamp each record with the context bound when it was created, not when it is formatted.

    A handler may format later (pytest's caplog, a QueueHandler): the fields must be the ones of
    the request or job that logged.
    """
    previous = logging.getLogRecordFactory()
    if getattr(previous, "meridian", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        fields = context.current()
        if fields:
            record.meridian_context = fields
        return record

    factory.meridian = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


def _context_of(record: logging.LogRecord) -> dict[str, Any]:
    stamped = getattr(record, "meridian_context", None)
    return dict(stamped) if stamped is not None else context.current()


def redact(fields: dict[str, Any]) -> dict[str, Any]:
    """Return `fields` with every credential-like name's value replaced, at any depth."""
    clean: dict[str, Any] = {}
    for key, value in fields.items():
        if _SECRET_NAME.search(str(key)):
            clean[key] = REDACTED
        elif isinstance(value, dict):
            clean[key] = redact(value)
        else:
            clean[key] = value
    return clean


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, bound context, `extra` fields."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        document.update(_context_of(record))
        document.update({k: v for k, v in vars(record).items() if k not in _RECORD_ATTRS})
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(redact(document), default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """The local format: level, logger, message, then the bound fields as key=value."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{record.levelname} {record.name}: {super().format(record)}"
        fields = {**_context_of(record), **{k: v for k, v in vars(record).items() if k not in _RECORD_ATTRS}}
        if fields:
            line += " " + " ".join(f"{k}={v}" for k, v in redact(fields).items())
        return line


def _lambda_ids(request: HttpRequest) -> tuple[str | None, str | None]:
    """API Gateway's request id and Lambda's, when Zappa put the event and context in the environ."""
    event = request.META.get("lambda.event") or {}
    gateway_id = (event.get("requestContext") or {}).get("requestId") if isinstance(event, dict) else None
    lambda_id = getattr(request.META.get("lambda.context"), "aws_request_id", None)
    return gateway_id, lambda_id


def _market(kwargs: dict[str, Any]) -> str | None:
    value = kwargs.get("code") or kwargs.get("market") or kwargs.get("market_code")
    return str(value).upper() if value else None


class RequestLogMiddleware:
    """Binds the request's ids, view and market for every line it causes, then logs one summary."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        gateway_id, lambda_id = _lambda_ids(request)
        started = time.perf_counter()
        with context.scope(request_id=gateway_id, lambda_request_id=lambda_id, method=request.method):
            response = self.get_response(request)
            duration_ms = round((time.perf_counter() - started) * 1000, 1)
            match = getattr(request, "resolver_match", None)
            # DRF sets request.user on the underlying request when it authenticates a token.
            user = getattr(request, "user", None)
            fields = {
                "view": match.view_name if match else None,
                "market": _market(match.kwargs) if match else None,
                "user": user.get_username() if user is not None and user.is_authenticated else None,
                "role": context.user_role(user) if user is not None and user.is_authenticated else None,
                "status": response.status_code,
                "duration_ms": duration_ms,
                "path": request.path_info,
            }
            level = logging.ERROR if response.status_code >= 500 else logging.INFO
            request_logger.log(
                level,
                "%s %s %s %.1fms",
                request.method,
                request.path_info,
                response.status_code,
                duration_ms,
                extra={k: v for k, v in fields.items() if v is not None},
            )
        return response

    def process_view(self, request: HttpRequest, view: Any, args: Any, kwargs: dict[str, Any]) -> None:
        # Before the view runs, so trace annotations and the view's own log lines carry them.
        match = getattr(request, "resolver_match", None)
        context.bind(
            view=match.view_name if match else None,
            market=_market(kwargs),
            _user=getattr(request, "user", None),
        )


@contextmanager
def job_run(job: str, *, attempt: int | None = None, **fields: Any) -> Iterator[dict[str, Any]]:
    """Log one background job run: job, attempt, outcome ("ok", "failed", or the caller's) and duration.

    The caller may set `outcome` (or other fields) on the yielded dict; an exception means "failed"
    and propagates. "failed"/"dead" log at ERROR, "retrying"/"queued" at WARNING, others at INFO.
    """
    started = time.perf_counter()
    result: dict[str, Any] = {"outcome": "ok"}
    with context.scope(job=job, attempt=attempt, **fields):
        try:
            yield result
        except BaseException:
            result["outcome"] = "failed"
            raise
        finally:
            duration_ms = round((time.perf_counter() - started) * 1000, 1)
            job_logger.log(
                _OUTCOME_LEVELS.get(str(result["outcome"]), logging.INFO),
                "job %s %s in %.1fms",
                job,
                result["outcome"],
                duration_ms,
                extra={**result, "duration_ms": duration_ms},
            )
