"""X-Ray subsegments around the calls that cross a network: AWS services and the database.

Switched on per stage by `xray_tracing` in zappa_settings.json (Lambda samples and sends the
trace) together with `TRACING_ENABLED` (tests/deploy check that the two agree). When off, `traced`
is a no-op and the X-Ray SDK is never imported; when on, the SDK loads on the first traced call,
not at start-up (the cold-start budget, docs/benchmarks.md).

Every subsegment is annotated with the service, the operation, and the market and user role of the
request or the job, so the X-Ray console can filter "throttled DynamoDB writes in market DE" or
"slow publishes for editors". AWS calls are traced at one choke point: `install_botocore_tracing()`
adds botocore event handlers to every botocore session (`install_botocore_tracing`).
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

from django.conf import settings

from portal.observability import context

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

# Error codes AWS services answer when they throttle (botocore retries them in standard mode).
THROTTLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
        "LimitExceededException",
    }
)
_recorder_lock = threading.Lock()
_recorder: Any = None


def enabled() -> bool:
    return bool(settings.TRACING_ENABLED)


def recorder() -> Any:
    """The X-Ray SDK's global recorder, imported and configured on first use."""
    global _recorder
    if _recorder is None:
        with _recorder_lock:
            if _recorder is None:
                from aws_xray_sdk.core import xray_recorder

                # A trace must never break a request: outside a segment (a laptop, a thread the
                # SDK does not know) the subsegment is simply not recorded.
                xray_recorder.configure(service="meridian", context_missing="IGNORE_ERROR")
                _recorder = xray_recorder
    return _recorder


def _annotate(subsegment: Any, service: str, operation: str, extra: dict[str, Any]) -> None:
    fields = context.current()
    annotations = {
        "service": service,
        "operation": operation,
        "market": fields.get("market"),
        "role": fields.get("role"),
        "job": fields.get("job"),
        **extra,
    }
    for key, value in annotations.items():
        if value not in (None, ""):
            subsegment.put_annotation(key, value if isinstance(value, bool | int | float) else str(value))


def begin(service: str, operation: str, *, namespace: str = "remote", **annotations: Any) -> Any:
    """Open a subsegment (None when tracing is off or there is no segment); pair with `end`."""
    if not enabled():
        return None
    try:
        subsegment = recorder().begin_subsegment(service, namespace=namespace)
        if subsegment is not None:
            _annotate(subsegment, service, operation, annotations)
        return subsegment
    except Exception:  # tracing is a diagnostic: it never fails the traced call
        logger.debug("Could not open an X-Ray subsegment", exc_info=True)
        return None


def end(subsegment: Any, *, error: BaseException | None = None, status: int | None = None) -> None:
    if subsegment is None:
        return
    try:
        if status is not None:
            subsegment.apply_status_code(status)
        if error is not None:
            import traceback

            subsegment.add_exception(error, traceback.extract_tb(error.__traceback__))
        recorder().end_subsegment()
    except Exception:
        logger.debug("Could not close an X-Ray subsegment", exc_info=True)


class traced:  # noqa: N801 - used like `with traced(...)`, as contextlib's helpers are
    """`with traced("dynamodb", "BatchWriteItem"):` or `@traced("labelling", "run_job")`.

    A no-op unless tracing is on; the SDK is imported on the first traced call only.
    """

    def __init__(self, service: str, operation: str, **annotations: Any) -> None:
        self.service, self.operation, self.annotations = service, operation, annotations
        self._local = threading.local()

    def __enter__(self) -> Any:
        subsegment = begin(self.service, self.operation, **self.annotations)
        self._local.__dict__.setdefault("stack", []).append(subsegment)
        return subsegment

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        end(self._local.stack.pop(), error=exc)

    def __call__(self, function: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(function)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            with self:
                return function(*args, **kwargs)

        return wrapper


# --- AWS: botocore event handlers, registered once per client ---------------------------------


def _operation(model: Any) -> tuple[str, str]:
    return str(model.service_model.service_id), str(model.name)


def _before_parameter_build(params: Any, context: dict[str, Any], **_: Any) -> None:
    # The API parameters (before-call only sees the serialized HTTP request): the resource's name.
    if enabled() and isinstance(params, dict):
        context["meridian_resource"] = {
            "table": params.get("TableName"),
            "bucket": params.get("Bucket"),
        }


def _before_call(model: Any, context: dict[str, Any], **_: Any) -> None:
    if not enabled():
        return
    service, operation = _operation(model)
    resource = context.pop("meridian_resource", None) or {}
    context["meridian_subsegment"] = begin(service, operation, namespace="aws", **resource)
    context["meridian_throttles"] = 0


def _response_received(parsed_response: Any = None, context: Any = None, **_: Any) -> None:
    # Once per attempt, retries included: a throttle that botocore retried away still shows.
    if not isinstance(context, dict) or context.get("meridian_subsegment") is None:
        return
    error = (parsed_response or {}).get("Error", {}) if isinstance(parsed_response, dict) else {}
    status = ((parsed_response or {}).get("ResponseMetadata") or {}).get("HTTPStatusCode")
    if error.get("Code") in THROTTLE_CODES or status == 429:
        context["meridian_throttles"] = context.get("meridian_throttles", 0) + 1


def _after_call(
    http_response: Any, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any
) -> None:
    subsegment = context.pop("meridian_subsegment", None)
    if subsegment is None:
        return
    metadata = parsed.get("ResponseMetadata", {}) if isinstance(parsed, dict) else {}
    throttles = int(context.get("meridian_throttles", 0))
    code = (parsed.get("Error") or {}).get("Code") if isinstance(parsed, dict) else None
    try:
        subsegment.put_annotation("retries", int(metadata.get("RetryAttempts", 0)))
        subsegment.put_annotation("throttled", throttles > 0 or code in THROTTLE_CODES)
        if throttles:
            subsegment.put_annotation("throttles", throttles)
        if code:
            subsegment.put_annotation("error_code", str(code))
        subsegment.set_aws({"operation": model.name, "request_id": metadata.get("RequestId")})
        if code in THROTTLE_CODES:
            subsegment.add_throttle_flag()
    except Exception:
        logger.debug("Could not annotate an X-Ray subsegment", exc_info=True)
    end(subsegment, status=getattr(http_response, "status_code", None))


def _after_call_error(exception: BaseException, context: dict[str, Any], **_: Any) -> None:
    end(context.pop("meridian_subsegment", None), error=exception)


# As specific as a Stubber's handlers ("before-call.*.*"), and registered earlier (at session
# creation), so ours run first: a stubbed response stops the handler chain.
_HANDLERS = (
    ("before-parameter-build.*.*", _before_parameter_build),
    ("before-call.*.*", _before_call),
    ("response-received.*.*", _response_received),
    ("after-call.*.*", _after_call),
    ("after-call-error.*.*", _after_call_error),
)


def _add_builtin_handlers(module: Any) -> None:
    for spec in _HANDLERS:
        if spec not in module.BUILTIN_HANDLERS:
            module.BUILTIN_HANDLERS.append(spec)


def install_botocore_tracing() -> None:
    """Trace every AWS call of every botocore session created from now on.

    botocore registers `botocore.handlers.BUILTIN_HANDLERS` on each new session, and each client
    copies its session's handlers: adding ours there is the one choke point behind the DynamoDB,
    API Gateway, Rekognition, S3 (django-storages), SQS and SSM clients alike, with no adapter
    edited. A post-import hook adds them when botocore is first imported, so switching tracing on
    does not import botocore at start-up either. The handlers check `enabled()` on each call.
    """
    import wrapt

    wrapt.register_post_import_hook(_add_builtin_handlers, "botocore.handlers")


# --- the database: an execute wrapper on every connection --------------------------------------


def _db_wrapper(execute: Callable[..., Any], sql: str, params: Any, many: bool, ctx: Any) -> Any:
    verb = sql.lstrip().split(None, 1)[0].upper() if sql and sql.strip() else "SQL"
    vendor = getattr(ctx.get("connection"), "vendor", "database") if isinstance(ctx, dict) else "database"
    # The statement's verb only: parameters may carry hashes and personal data.
    with traced("database", verb, db=vendor):
        return execute(sql, params, many, ctx)


def install_db_tracing(sender: Any = None, connection: Any = None, **_: Any) -> None:
    """Add the tracing wrapper to a connection (Django's `connection_created` signal calls this)."""
    if connection is not None and _db_wrapper not in connection.execute_wrappers:
        connection.execute_wrappers.append(_db_wrapper)


@contextmanager
def db_tracing(connection: Any) -> Iterator[None]:
    """Trace one connection's queries for a block (tests, and connections that already exist)."""
    install_db_tracing(connection=connection)
    try:
        yield
    finally:
        if _db_wrapper in connection.execute_wrappers:
            connection.execute_wrappers.remove(_db_wrapper)
