"""Local enforcement of partner keys and usage plans: what API Gateway does, for the embedded mode.

`require_partner_key` guards a view: the `x-api-key` header must name an active key whose plan
covers this deployment's stage (else 403, as API Gateway answers), the plan's throttle must admit
the request (else 429 "Too Many Requests", `X-RateLimit-Reason: throttle`, `Retry-After`) and its
quota must not be spent (else 429 "Limit Exceeded", `X-RateLimit-Reason: quota`).

Rate limiting uses the `limits` library (see docs/decisions/002-local-rate-limiting.md): a moving
window of `burst` requests per `burst / rate` seconds stands in for API Gateway's token bucket,
and the quota and per-day usage are counters in the same storage. Storage is Redis when
`REDIS_URL` (or `PARTNER_LIMITS_STORAGE`) is set, else a SQLite file that all processes on the
machine share. A request costs no database write: counts are flushed to `KeyUsage` by
`manage.py gateway sync-usage`, and `last_used_at` is written at most once a minute per key.
"""

from __future__ import annotations

import atexit
import logging
import math
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from accounts.partners.gateway.quota import period_bounds, period_id
from accounts.tokens import hash_secret
from portal.observability import metrics

if TYPE_CHECKING:
    # `limits` costs ≈80 ms to import (it pulls in its asyncio storages): it loads on the first
    # partner request, not at every cold start (the URLconf imports this module).
    from limits import RateLimitItem
    from limits.storage import Storage

logger = logging.getLogger(__name__)

HEADER = "x-api-key"
FORBIDDEN = "Forbidden"
TOO_MANY_REQUESTS = "Too Many Requests"
LIMIT_EXCEEDED = "Limit Exceeded"
# Daily counters outlive the 30-day chart and a late usage flush.
DAY_COUNTER_TTL = 40 * 86400
DAY_FLUSH_SECONDS = 1.0
LAST_USED_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class KeyPolicy:
    """What enforcement needs to know about one key and its plan (cached briefly in-process)."""

    key_id: int
    prefix: str
    usable: bool
    status: str
    expires_at: datetime | None
    plan_id: int
    rate: float
    burst: int
    quota_limit: int | None
    quota_period: str
    quota_offset: int
    stages: frozenset[str]
    # stage -> "/resource/METHOD" -> (rate, burst)
    method_throttles: dict[str, dict[str, tuple[float, int]]] = field(default_factory=dict)

    def refusal(self, now: datetime) -> str | None:
        """Return why the key may not be used at `now`, or None."""
        if not self.usable:
            return self.status if self.status != "active" else "partner inactive"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return None


@dataclass(frozen=True)
class Decision:
    """The answer for one request: admitted, or refused with a status and a reason."""

    allowed: bool
    reason: str
    status: int = 200
    retry_after: int | None = None
    policy: KeyPolicy | None = None
    quota_remaining: int | None = None


def throttle_item(rate: float, burst: int, namespace: str) -> RateLimitItem:
    """Return the moving window that stands in for a token bucket of `rate`/s and `burst`.

    `burst` requests per ceil(burst / rate) seconds: the burst is exact and the long-run rate
    never exceeds the plan's. When burst < rate the window is one second of the rate.
    """
    from limits import RateLimitItemPerSecond

    if burst >= rate:
        return RateLimitItemPerSecond(burst, max(1, math.ceil(burst / rate - 1e-9)), namespace=namespace)
    return RateLimitItemPerSecond(max(1, math.ceil(rate)), 1, namespace=namespace)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class PartnerLimiter:
    """Throttle, quota and usage counters for partner keys, over one `limits` storage.

    `clock` gives the time used for quota periods and expiry; `limits`' storages read
    `time.time()` themselves, so tests freeze both with time-machine.
    """

    def __init__(
        self, storage: Storage, *, clock: Callable[[], datetime] = _utcnow, namespace: str = "meridian"
    ) -> None:
        from limits.strategies import MovingWindowRateLimiter

        self.storage = storage
        self.clock = clock
        self.namespace = namespace
        self.window = MovingWindowRateLimiter(storage)
        # Daily usage is for reports, not for refusing requests: it is summed in-process and
        # added to the storage at most once a second, saving a storage round trip per request.
        self._pending: dict[tuple[int, date], int] = {}
        self._pending_lock = threading.Lock()
        self._flushed_at = time.monotonic()
        atexit.register(self.flush)

    # --- keys in the storage ---------------------------------------------------------------
    def _quota_key(self, key_id: int, period: str) -> str:
        return f"{self.namespace}/quota/{key_id}/{period}"

    def _day_key(self, key_id: int, day: date) -> str:
        return f"{self.namespace}/day/{key_id}/{day.isoformat()}"

    # --- the per-request check -------------------------------------------------------------
    def check(self, policy: KeyPolicy, *, stage: str, method_path: str) -> Decision:
        """Admit or refuse one request by `policy`'s key; count it when admitted."""
        now = self.clock()
        refusal = policy.refusal(now)
        if refusal is not None:
            return Decision(False, refusal, 403, policy=policy)
        if stage not in policy.stages:
            return Decision(False, "stage not in plan", 403, policy=policy)
        windows = [(throttle_item(policy.rate, policy.burst, f"{self.namespace}/rate"), "plan")]
        method = policy.method_throttles.get(stage, {}).get(method_path)
        if method is not None:
            windows.append((throttle_item(method[0], method[1], f"{self.namespace}/method"), method_path))
        for item, scope in windows:
            if not self.window.hit(item, str(policy.key_id), scope):
                reset = self.window.get_window_stats(item, str(policy.key_id), scope).reset_time
                retry = max(1, math.ceil(reset - time.time()))
                return Decision(False, "throttle", 429, retry_after=retry, policy=policy)
        remaining: int | None = None
        if policy.quota_limit is not None and policy.quota_period:
            start, end = period_bounds(policy.quota_period, policy.quota_offset, now)
            counter = self._quota_key(policy.key_id, start.date().isoformat())
            used = self.storage.incr(counter, int((end - now).total_seconds()) + 86400)
            if used > policy.quota_limit:
                # Give the refused request back, so a later top-up is not eaten by refusals.
                self.storage.incr(counter, 86400, amount=-1)
                retry = max(1, math.ceil((end - now).total_seconds()))
                return Decision(False, "quota", 429, retry_after=retry, policy=policy, quota_remaining=0)
            remaining = policy.quota_limit - used
        self._count(policy.key_id, now.date())
        return Decision(True, "ok", 200, policy=policy, quota_remaining=remaining)

    def _count(self, key_id: int, day: date) -> None:
        with self._pending_lock:
            self._pending[(key_id, day)] = self._pending.get((key_id, day), 0) + 1
            due = time.monotonic() - self._flushed_at >= DAY_FLUSH_SECONDS
        if due:
            self.flush()

    def flush(self) -> None:
        """Add the requests counted in this process to the storage's daily counters."""
        with self._pending_lock:
            pending, self._pending = self._pending, {}
            self._flushed_at = time.monotonic()
        for (key_id, day), count in pending.items():
            self.storage.incr(self._day_key(key_id, day), DAY_COUNTER_TTL, amount=count)

    # --- reading and adjusting counters (usage sync, top-ups, rotation) --------------------
    def day_used(self, key_id: int, day: date) -> int:
        """Return the requests `key_id` made on the UTC day `day` (this process's up to now)."""
        self.flush()
        return self.storage.get(self._day_key(key_id, day))

    def add_day_used(self, key_id: int, day: date, amount: int) -> None:
        """Add `amount` requests to `key_id`'s counter of the UTC day `day` (demo data, replays)."""
        self.storage.incr(self._day_key(key_id, day), DAY_COUNTER_TTL, amount=amount)

    def period_used(self, key_id: int, period: str, offset: int, at: datetime) -> int:
        """Return the quota `key_id` has used in the period containing `at`."""
        return self.storage.get(self._quota_key(key_id, period_id(period, offset, at)))

    def add_period_used(self, key_id: int, period: str, offset: int, at: datetime, amount: int) -> None:
        """Add `amount` (negative: give back) to the quota used in the period containing `at`."""
        start, end = period_bounds(period, offset, at)
        ttl = int((end - at).total_seconds()) + 86400
        self.storage.incr(self._quota_key(key_id, start.date().isoformat()), ttl, amount=amount)


# --- configuration -------------------------------------------------------------------------
def storage_uri() -> str:
    """Return the configured storage URI: PARTNER_LIMITS_STORAGE, else REDIS_URL, else SQLite."""
    if settings.PARTNER_LIMITS_STORAGE:
        return str(settings.PARTNER_LIMITS_STORAGE)
    if settings.REDIS_URL:
        return str(settings.REDIS_URL)
    path = Path(settings.VAR_DIR) / "partner_limits.sqlite3"
    return f"meridian+sqlite:///{path}"


def storage_from_uri(uri: str, *, key_prefix: str = "meridian-partners") -> Storage:
    """Build the `limits` storage for `uri` (redis://, rediss://, memory://, meridian+sqlite://)."""
    if uri.startswith(("redis://", "rediss://", "redis+unix://")):
        from limits.storage import RedisStorage

        # Short timeouts: a slow Redis must not hold partner requests (enforcement fails open).
        return RedisStorage(uri, key_prefix=key_prefix, socket_timeout=0.5, socket_connect_timeout=0.5)
    if uri.startswith("memory://"):
        from limits.storage import MemoryStorage

        # One process only: fine for a single runserver and for benchmarks, not for gunicorn.
        return MemoryStorage()
    if uri.startswith("meridian+sqlite://"):
        from accounts.partners.gateway.sqlite_limits import SQLiteStorage

        return SQLiteStorage(uri)
    raise ValueError(f"Unsupported partner limits storage {uri!r}.")


_limiter: PartnerLimiter | None = None
_limiter_lock = threading.Lock()


def get_limiter() -> PartnerLimiter:
    """Return the process's limiter, built from settings on first use."""
    global _limiter
    if _limiter is None:
        with _limiter_lock:
            if _limiter is None:
                _limiter = PartnerLimiter(storage_from_uri(storage_uri()))
    return _limiter


def set_limiter(limiter: PartnerLimiter | None) -> None:
    """Install `limiter` (tests, benchmarks); None rebuilds it from settings on next use."""
    global _limiter
    previous, _limiter = _limiter, limiter
    if previous is not None and previous is not limiter:
        try:
            previous.flush()
        except Exception:  # a storage that went away meanwhile loses at most a second of counts
            logger.warning("Could not flush the replaced limiter's daily counts.", exc_info=True)
    _policies.forget()
    _policies.generation = None


# --- key lookup, cached briefly ------------------------------------------------------------
_CACHE_MAX = 10_000
_last_used_written: dict[int, datetime] = {}
# A counter in the limiter's storage (Redis or the SQLite file every process shares), bumped after
# every change that can stop or alter a key (suspend, resume, revoke, rotate, expiry, plan and
# partner changes). Each request reads it (one GET) and a process whose cached policies are older
# drops them all, so a revoked key is refused by every worker on its next request.
GENERATION_KEY = "keys-generation"
GENERATION_TTL = 400 * 86400


def cache_seconds() -> float:
    # The longest a cached policy lives; a key change reaches every process at once through the
    # generation counter, so this only bounds how stale a policy can be when the storage is down.
    return float(settings.PARTNER_KEY_CACHE_SECONDS)


def _generation_key(limiter: PartnerLimiter) -> str:
    return f"{limiter.namespace}/{GENERATION_KEY}"


class PolicyCache:
    """One process's cache of key policies, dropped whenever the shared key generation moves."""

    def __init__(self) -> None:
        self.entries: dict[str, tuple[float, KeyPolicy | None]] = {}
        self.generation: int | None = None
        self.lock = threading.Lock()

    def _sync(self, limiter: PartnerLimiter | None) -> None:
        if limiter is None:
            return
        try:
            current = int(limiter.storage.get(_generation_key(limiter)))
        except Exception:
            # A storage that is down: keep the cached policies, which expire after cache_seconds().
            logger.warning("Could not read the partner key generation.", exc_info=True)
            return
        with self.lock:
            if current != self.generation:
                self.entries.clear()
                self.generation = current

    def policy(self, secret: str, *, limiter: PartnerLimiter | None) -> KeyPolicy | None:
        """Return the policy of the key whose secret is `secret` (None: unknown key)."""
        self._sync(limiter)
        key_hash = hash_secret(secret)
        now = time.monotonic()
        cached = self.entries.get(key_hash)
        if cached is not None and cached[0] > now:
            return cached[1]
        policy = _load_policy(key_hash)
        with self.lock:
            if len(self.entries) >= _CACHE_MAX:
                self.entries.clear()
            self.entries[key_hash] = (now + cache_seconds(), policy)
        return policy

    def forget(self, *key_hashes: str) -> None:
        with self.lock:
            if not key_hashes:
                self.entries.clear()
            for key_hash in key_hashes:
                self.entries.pop(key_hash, None)


_policies = PolicyCache()


def _shared_limiter() -> PartnerLimiter | None:
    # With API Gateway in front no limiter storage is opened (on Lambda there may be no disk for
    # the SQLite one); the gateway itself refuses a key once the change is synced.
    if settings.GATEWAY_BACKEND != "local":
        return None
    return get_limiter()


def bump_key_generation() -> None:
    """Tell every process to drop its cached key policies (after a key, plan or partner change)."""
    limiter = _shared_limiter()
    if limiter is None:
        return
    try:
        limiter.storage.incr(_generation_key(limiter), GENERATION_TTL)
    except Exception:
        logger.warning(
            "Could not bump the partner key generation; other processes see the change within %s s.",
            cache_seconds(),
            exc_info=True,
        )


def forget_keys(*key_hashes: str) -> None:
    """Drop cached policies (all of them when no hash is given) after a key or plan changes.

    This process forgets at once; every other process forgets on its next request, through the
    shared key generation.
    """
    _policies.forget(*key_hashes)
    bump_key_generation()


def _load_policy(key_hash: str) -> KeyPolicy | None:
    from accounts.partners.models import KeyStatus, PartnerApiKey

    # One flat row, no model instances and no ordering: this runs whenever the cache misses.
    row = (
        PartnerApiKey.objects.filter(key_hash=key_hash)
        .order_by()
        .values(
            "pk",
            "prefix",
            "status",
            "expires_at",
            "partner__active",
            "plan_id",
            "plan__rate_limit",
            "plan__burst_limit",
            "plan__quota_limit",
            "plan__quota_period",
            "plan__quota_offset",
            "plan__api_stages",
            "plan__method_throttles",
            "plan__deleted_at",
        )[:1]
    )
    found = list(row)
    if not found:
        return None
    key = found[0]
    throttles: dict[str, dict[str, tuple[float, int]]] = {}
    for stage, methods in (key["plan__method_throttles"] or {}).items():
        throttles[stage] = {path: (float(t["rate"]), int(t["burst"])) for path, t in methods.items()}
    has_quota = key["plan__quota_limit"] is not None and bool(key["plan__quota_period"])
    return KeyPolicy(
        key_id=key["pk"],
        prefix=key["prefix"],
        usable=key["status"] == KeyStatus.ACTIVE
        and key["partner__active"]
        and key["plan__deleted_at"] is None,
        status=key["status"],
        expires_at=key["expires_at"],
        plan_id=key["plan_id"],
        rate=float(key["plan__rate_limit"]),
        burst=key["plan__burst_limit"],
        quota_limit=key["plan__quota_limit"] if has_quota else None,
        quota_period=key["plan__quota_period"],
        quota_offset=key["plan__quota_offset"],
        stages=frozenset(key["plan__api_stages"] or ()),
        method_throttles=throttles,
    )


def policy_for(secret: str) -> KeyPolicy | None:
    """Return the policy of the key whose secret is `secret`, or None for an unknown key."""
    return _policies.policy(secret, limiter=_shared_limiter())


def _note_use(policy: KeyPolicy, now: datetime) -> None:
    last = _last_used_written.get(policy.key_id)
    if last is not None and now - last < LAST_USED_EVERY:
        return
    from accounts.partners.models import PartnerApiKey

    _last_used_written[policy.key_id] = now
    PartnerApiKey.objects.filter(pk=policy.key_id).update(last_used_at=now)


def local_stage() -> str:
    """Return the `apiId:stage` this deployment serves (the first of API_GATEWAY_STAGES)."""
    stages: list[str] = list(settings.API_GATEWAY_STAGES or ["meridian:local"])
    return stages[0]


def enforce(request: HttpRequest, *, resource: str | None = None) -> Decision:
    """Decide whether `request` may proceed, by its `x-api-key` and the key's usage plan."""
    secret = request.headers.get(HEADER, "").strip()
    if not secret:
        return Decision(False, "missing key", 403)
    policy = policy_for(secret)
    if policy is None:
        return Decision(False, "unknown key", 403)
    if settings.GATEWAY_BACKEND != "local":
        # API Gateway in front already throttled and counted; only refuse keys that stopped
        # working. No limiter storage is opened (on Lambda there may be no writable disk for one).
        refusal = policy.refusal(_utcnow())
        return Decision(refusal is None, refusal or "ok", 403 if refusal else 200, policy=policy)
    limiter = get_limiter()
    method_path = f"{resource or request.path_info.rstrip('/') or '/'}/{request.method}"
    try:
        decision = limiter.check(policy, stage=local_stage(), method_path=method_path)
    except Exception:
        # Usage plans are not a security control (AWS says so too): a broken limiter store
        # must not take the partner API down with it.
        logger.exception("Partner rate limiting is unavailable; admitting the request.")
        refusal = policy.refusal(limiter.clock())
        return Decision(refusal is None, refusal or "ok", 403 if refusal else 200, policy=policy)
    if decision.allowed:
        _note_use(policy, limiter.clock())
    return decision


def refusal_response(decision: Decision) -> HttpResponse:
    """Return API Gateway's answer for a refused request."""
    if decision.status == 403:
        response = JsonResponse({"message": FORBIDDEN}, status=403)
    elif decision.reason == "quota":
        response = JsonResponse({"message": LIMIT_EXCEEDED, "reason": "quota"}, status=429)
        response["X-RateLimit-Reason"] = "quota"
    else:
        response = JsonResponse({"message": TOO_MANY_REQUESTS, "reason": "throttle"}, status=429)
        response["X-RateLimit-Reason"] = "throttle"
    if decision.status == 429:
        metrics.count("Partner429", reason=decision.reason)
    if decision.retry_after is not None:
        response["Retry-After"] = str(decision.retry_after)
    response["Cache-Control"] = "no-store"
    return response


def _record(
    request: HttpRequest,
    resource: str | None,
    decision: Decision,
    response: HttpResponse,
    arrived: datetime,
    started: float,
) -> None:
    """Buffer the request's traffic sample (API Gateway's access logs do this in production)."""
    from accounts.partners.traffic.aggregation import Request
    from accounts.partners.traffic.recorder import get_recorder

    assert decision.policy is not None
    get_recorder().add(
        Request(
            request_id=uuid.uuid4().hex,
            key_id=decision.policy.key_id,
            stage=local_stage(),
            method=f"{resource or request.path_info.rstrip('/') or '/'}/{request.method}",
            at=arrived,
            status=response.status_code,
            reason=decision.reason if response.status_code == 429 else "",
            latency_ms=round((time.perf_counter() - started) * 1000, 3),
        )
    )


ViewFunc = Callable[..., HttpResponse]
SAFE_METHODS = ("GET", "HEAD")


def method_not_allowed() -> HttpResponse:
    """Return the JSON 405 a partner endpoint answers to anything but GET and HEAD."""
    response = JsonResponse({"message": "Method Not Allowed"}, status=405)
    response["Allow"] = ", ".join(SAFE_METHODS)
    response["Cache-Control"] = "no-store"
    return response


@overload
def require_partner_key(view: ViewFunc, *, resource: str | None = None) -> ViewFunc: ...


@overload
def require_partner_key(
    view: None = None, *, resource: str | None = None
) -> Callable[[ViewFunc], ViewFunc]: ...


def require_partner_key(
    view: ViewFunc | None = None, *, resource: str | None = None
) -> ViewFunc | Callable[[ViewFunc], ViewFunc]:
    """Decorate a view so that it answers only GET/HEAD requests with a usable partner key.

    Any other method gets a JSON 405 (the view is CSRF-exempt: it reads, and uses no cookies).
    `resource` names the API resource for per-method throttles (e.g. "/feed/v1/{market}");
    by default the request path. The admitted key's policy is on `request.partner_key`.
    """

    def decorate(func: ViewFunc) -> ViewFunc:
        @wraps(func)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method not in SAFE_METHODS:
                return method_not_allowed()
            started, arrived = time.perf_counter(), _utcnow()
            decision = enforce(request, resource=resource)
            if not decision.allowed:
                if decision.policy is not None:
                    logger.info("Partner key %s refused: %s", decision.policy.prefix, decision.reason)
                response = refusal_response(decision)
            else:
                request.partner_key = decision.policy  # type: ignore[attr-defined]
                response = func(request, *args, **kwargs)
                if decision.quota_remaining is not None:
                    response["X-RateLimit-Quota-Remaining"] = str(decision.quota_remaining)
            if decision.policy is not None and settings.GATEWAY_BACKEND == "local":
                _record(request, resource, decision, response, arrived, started)
            return response

        # Partner endpoints are read-only JSON without cookies: another method gets a JSON 405,
        # never Django's HTML CSRF page (the CSRF check would run before the view otherwise).
        wrapper.csrf_exempt = True  # type: ignore[attr-defined]
        wrapper.partner_endpoint = True  # type: ignore[attr-defined]
        return wrapper

    if view is not None:
        return decorate(view)
    return decorate
