"""API Gateway usage plans and keys through boto3 (imported on first use, never at start-up).

Every object Meridian creates carries a tag (`meridian:plan` / `meridian:key` = the row's id), so
a create that succeeded on AWS but was never recorded (a crash in between) is found again instead
of duplicated, and reconcile can tell Meridian's objects from others in the account.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings

from accounts.partners.gateway.base import (
    DayUsage,
    GatewayError,
    GatewayInventory,
    KeySpec,
    MethodThrottle,
    PlanSpec,
    SecretUnavailable,
)

PLAN_TAG = "meridian:plan"
KEY_TAG = "meridian:key"
# Errors by AWS's error code (never by message text). Throttling (429 TooManyRequestsException,
# and LimitExceededException, which API Gateway also answers for a control-plane rate limit) and
# 5xx are retried by botocore's standard mode first; if they outlast it, the sync is recorded
# "failed" and retried later, so they stay retryable. The rest is final: a retry cannot fix it.
NOT_FOUND = "NotFoundException"
CONFLICT = "ConflictException"
RETRYABLE_CODES = frozenset(
    {
        "TooManyRequestsException",
        "LimitExceededException",
        "ServiceUnavailableException",
        "InternalFailure",
        "InternalServerError",
        "RequestTimeout",
        "Throttling",
        "ThrottlingException",
    }
)
# Named for the reader: BadRequestException (invalid input), ConflictException (exists already),
# NotFoundException, UnauthorizedException and AccessDeniedException are not retryable.
FINAL_CODES = frozenset(
    {"BadRequestException", CONFLICT, NOT_FOUND, "UnauthorizedException", "AccessDeniedException"}
)


def classify(exc: Exception, operation: str) -> GatewayError:
    """Return the GatewayError for a botocore error: code, HTTP status and whether to retry later."""
    from botocore.exceptions import ClientError

    if not isinstance(exc, ClientError):
        # No answer at all (connection, timeout after botocore's retries): worth another try.
        return GatewayError(f"{operation}: {exc}", retryable=True)
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    # The message is only shown (sync_error), never inspected; an HTML error page says nothing in a
    # table cell, so it is kept short and on one line.
    message = " ".join((str(error.get("Message", "")) or str(exc)).split())[:300]
    retryable = code not in FINAL_CODES and (code in RETRYABLE_CODES or status >= 500 or status == 429)
    return GatewayError(
        f"{operation}: {code} {message}".strip(), retryable=retryable, code=code, status=status
    )


class _DropBodies(logging.Filter):
    """Drop botocore's DEBUG records of request and response bodies.

    CreateApiKey sends the key's value and AWS echoes it back: at DEBUG level botocore would
    write the secret to the logs, which must never see it.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


_filter_installed = False
_client_lock = threading.Lock()


def _install_log_filter() -> None:
    global _filter_installed
    if _filter_installed:
        return
    for name in ("botocore.endpoint", "botocore.parsers", "botocore.hooks", "botocore.httpsession"):
        logging.getLogger(name).addFilter(_DropBodies())
    _filter_installed = True


def _number(value: float) -> str:
    # API Gateway takes patch values as strings; "50" rather than "50.0" for whole rates.
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _pointer(resource_method: str) -> str:
    """Escape `/resource/METHOD` for use inside a JSON-pointer patch path (`/` becomes `~1`)."""
    resource, _, method = resource_method.rpartition("/")
    return f"{resource.replace('~', '~0').replace('/', '~1')}/{method}"


def plan_patch_operations(current: dict[str, Any], plan: PlanSpec) -> list[dict[str, str]]:
    """Return the patch operations that turn the gateway's `current` plan into `plan`."""
    ops: list[dict[str, str]] = []
    if (current.get("name") or "") != plan.name:
        ops.append({"op": "replace", "path": "/name", "value": plan.name})
    if (current.get("description") or "") != plan.description:
        ops.append({"op": "replace", "path": "/description", "value": plan.description})
    throttle = current.get("throttle") or {}
    if float(throttle.get("rateLimit", -1)) != plan.rate:
        ops.append({"op": "replace", "path": "/throttle/rateLimit", "value": _number(plan.rate)})
    if int(throttle.get("burstLimit", -1)) != plan.burst:
        ops.append({"op": "replace", "path": "/throttle/burstLimit", "value": str(plan.burst)})
    quota = current.get("quota") or {}
    if plan.quota_limit is not None and plan.quota_period:
        if int(quota.get("limit", -1)) != plan.quota_limit:
            ops.append({"op": "replace", "path": "/quota/limit", "value": str(plan.quota_limit)})
        if quota.get("period") != plan.quota_period:
            ops.append({"op": "replace", "path": "/quota/period", "value": plan.quota_period})
        if int(quota.get("offset", 0)) != plan.quota_offset:
            ops.append({"op": "replace", "path": "/quota/offset", "value": str(plan.quota_offset)})
    elif quota:
        ops.append({"op": "remove", "path": "/quota"})
    stages_now = {f"{s['apiId']}:{s['stage']}": s for s in current.get("apiStages") or []}
    wanted = set(plan.stages)
    for stage in sorted(set(stages_now) - wanted):
        ops.append({"op": "remove", "path": "/apiStages", "value": stage})
    for stage in sorted(wanted - set(stages_now)):
        ops.append({"op": "add", "path": "/apiStages", "value": stage})
    # Per-method throttles on stages that stay (new stages get theirs below, after the add).
    for stage in sorted(wanted):
        have = (stages_now.get(stage) or {}).get("throttle") or {}
        want = {t.path: t for t in plan.method_throttles if t.stage == stage}
        for path in sorted(set(have) - set(want)):
            ops.append({"op": "remove", "path": f"/apiStages/{stage}/throttle/{_pointer(path)}"})
        for path, throttle_spec in sorted(want.items()):
            current_t = have.get(path) or {}
            base = f"/apiStages/{stage}/throttle/{_pointer(path)}"
            if float(current_t.get("rateLimit", -1)) != throttle_spec.rate:
                ops.append(
                    {"op": "replace", "path": f"{base}/rateLimit", "value": _number(throttle_spec.rate)}
                )
            if int(current_t.get("burstLimit", -1)) != throttle_spec.burst:
                ops.append({"op": "replace", "path": f"{base}/burstLimit", "value": str(throttle_spec.burst)})
    return ops


def _api_stages(plan: PlanSpec) -> list[dict[str, Any]]:
    stages = []
    for stage in plan.stages:
        api_id, _, name = stage.partition(":")
        entry: dict[str, Any] = {"apiId": api_id, "stage": name}
        throttles: dict[str, dict[str, Any]] = {
            t.path: {"rateLimit": t.rate, "burstLimit": t.burst}
            for t in plan.method_throttles
            if t.stage == stage
        }
        if throttles:
            entry["throttle"] = throttles
        stages.append(entry)
    return stages


class ApiGatewayBackend:
    """Usage plans and keys on API Gateway (REST APIs)."""

    name = "apigateway"

    def __init__(self, client: Any = None) -> None:
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            with _client_lock:
                if self._client is None:
                    import boto3
                    from botocore.config import Config

                    _install_log_filter()
                    self._client = boto3.client(
                        "apigateway",
                        region_name=settings.AWS_REGION or None,
                        # botocore itself reads AWS_ENDPOINT_URL_API_GATEWAY (the service id is
                        # "API Gateway"); the spelling without the underscore is honoured too.
                        endpoint_url=settings.AWS_ENDPOINT_URL_APIGATEWAY or None,
                        config=Config(
                            # The only retries of a call: no loop of ours stacks on top of them. A
                            # sync that still fails is recorded "failed" and retried later.
                            retries={
                                "mode": "standard",
                                "max_attempts": settings.API_GATEWAY_CLIENT_MAX_ATTEMPTS,
                            },
                            connect_timeout=3,
                            read_timeout=10,
                        ),
                    )
        return self._client

    # --- calling AWS -------------------------------------------------------------------------
    def _call(self, operation: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        _install_log_filter()
        try:
            return getattr(self.client, operation)(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise classify(exc, operation) from exc

    def _missing(self, operation: str, **kwargs: Any) -> Any:
        """Call `operation`; return None when AWS answers NotFoundException."""
        try:
            return self._call(operation, **kwargs)
        except GatewayError as exc:
            if exc.code == NOT_FOUND:
                return None
            raise

    def _pages(self, operation: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield from self.client.get_paginator(operation).paginate(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise classify(exc, operation) from exc

    # --- stages --------------------------------------------------------------------------------
    def validate_stages(self, stages: list[str]) -> dict[str, str]:
        problems: dict[str, str] = {}
        by_api: dict[str, list[str]] = {}
        for stage in stages:
            api_id, _, name = stage.partition(":")
            by_api.setdefault(api_id, []).append(name)
        for api_id, names in by_api.items():
            answer = self._missing("get_stages", restApiId=api_id)
            known = {s["stageName"] for s in (answer or {}).get("item", [])}
            for name in names:
                if answer is None:
                    problems[f"{api_id}:{name}"] = f"There is no REST API {api_id!r} in this region."
                elif name not in known:
                    problems[f"{api_id}:{name}"] = f"The API {api_id!r} has no stage {name!r}."
        return problems

    # --- plans ---------------------------------------------------------------------------------
    def _find_plan(self, pk: int) -> dict[str, Any] | None:
        for page in self._pages("get_usage_plans"):
            for plan in page.get("items", []):
                if (plan.get("tags") or {}).get(PLAN_TAG) == str(pk):
                    return dict(plan)
        return None

    def plan_put(self, plan: PlanSpec) -> str:
        current = self._missing("get_usage_plan", usagePlanId=plan.gateway_id) if plan.gateway_id else None
        if current is None:
            current = self._find_plan(plan.pk)
        if current is None:
            kwargs: dict[str, Any] = {
                "name": plan.name,
                "description": plan.description,
                "apiStages": _api_stages(plan),
                "throttle": {"rateLimit": plan.rate, "burstLimit": plan.burst},
                "tags": {PLAN_TAG: str(plan.pk)},
            }
            if plan.quota_limit is not None and plan.quota_period:
                kwargs["quota"] = {
                    "limit": plan.quota_limit,
                    "period": plan.quota_period,
                    "offset": plan.quota_offset,
                }
            return str(self._call("create_usage_plan", **kwargs)["id"])
        ops = plan_patch_operations(current, plan)
        if ops:
            # One call for every change: plan edits are rate-limited like every control-plane call.
            self._call("update_usage_plan", usagePlanId=current["id"], patchOperations=ops)
        return str(current["id"])

    def plan_delete(self, plan: PlanSpec) -> None:
        if not plan.gateway_id:
            return
        current = self._missing("get_usage_plan", usagePlanId=plan.gateway_id)
        if current is None:
            return
        for page in self._pages("get_usage_plan_keys", usagePlanId=plan.gateway_id):
            for item in page.get("items", []):
                self._missing("delete_usage_plan_key", usagePlanId=plan.gateway_id, keyId=item["id"])
        stages = [f"{s['apiId']}:{s['stage']}" for s in current.get("apiStages") or []]
        if stages:
            # AWS refuses to delete a plan that still has API stages.
            self._call(
                "update_usage_plan",
                usagePlanId=plan.gateway_id,
                patchOperations=[{"op": "remove", "path": "/apiStages", "value": s} for s in stages],
            )
        self._missing("delete_usage_plan", usagePlanId=plan.gateway_id)

    # --- keys ----------------------------------------------------------------------------------
    def _find_key(self, key: KeySpec) -> dict[str, Any] | None:
        for page in self._pages("get_api_keys", nameQuery=f"meridian-{key.pk}-", includeValues=False):
            for item in page.get("items", []):
                if (item.get("tags") or {}).get(KEY_TAG) == str(key.pk):
                    return dict(item)
        return None

    def key_put(self, key: KeySpec, secret: str | None) -> str:
        if not key.present:
            self.key_delete(key)
            return ""
        current = self._missing("get_api_key", apiKey=key.gateway_id) if key.gateway_id else None
        if current is None:
            current = self._find_key(key)
        if current is None:
            if secret is None:
                raise SecretUnavailable()
            current = self._call(
                "create_api_key",
                name=key.name,
                description=key.description,
                # CreateApiKey defaults to a disabled key.
                enabled=key.enabled,
                value=secret,
                tags={KEY_TAG: str(key.pk)},
            )
            current.pop("value", None)
        key_id = str(current["id"])
        ops = []
        if bool(current.get("enabled")) != key.enabled:
            ops.append({"op": "replace", "path": "/enabled", "value": "true" if key.enabled else "false"})
        if (current.get("name") or "") != key.name:
            ops.append({"op": "replace", "path": "/name", "value": key.name})
        if ops:
            self._call("update_api_key", apiKey=key_id, patchOperations=ops)
        if self._missing("get_usage_plan_key", usagePlanId=key.plan_gateway_id, keyId=key_id) is None:
            try:
                self._call(
                    "create_usage_plan_key", usagePlanId=key.plan_gateway_id, keyId=key_id, keyType="API_KEY"
                )
            except GatewayError as exc:
                # A concurrent sync added it between our read and our create: the key is on its plan.
                if exc.code != CONFLICT:
                    raise
        return key_id

    def key_delete(self, key: KeySpec) -> None:
        if not key.gateway_id:
            return
        # Remove the key from every plan first: a deleted key otherwise lingers in plan listings.
        plans = self._missing("get_usage_plans", keyId=key.gateway_id) or {}
        plan_ids = {p["id"] for p in plans.get("items", [])}
        if key.plan_gateway_id:
            plan_ids.add(key.plan_gateway_id)
        for plan_id in sorted(plan_ids):
            self._missing("delete_usage_plan_key", usagePlanId=plan_id, keyId=key.gateway_id)
        self._missing("delete_api_key", apiKey=key.gateway_id)

    # --- usage and quota -------------------------------------------------------------------------
    def remaining(self, *, plan: PlanSpec, key: KeySpec, at: datetime) -> int | None:
        if plan.quota_limit is None or not plan.quota_period:
            return None
        day = at.date().isoformat()
        answer = self._call(
            "get_usage", usagePlanId=plan.gateway_id, keyId=key.gateway_id, startDate=day, endDate=day
        )
        days = (answer.get("items") or {}).get(key.gateway_id) or []
        if not days:
            return plan.quota_limit
        return int(days[-1][1])

    def set_remaining(self, *, plan: PlanSpec, key: KeySpec, remaining: int, at: datetime) -> None:
        if plan.quota_limit is None or not plan.quota_period:
            return
        self._call(
            "update_usage",
            usagePlanId=plan.gateway_id,
            keyId=key.gateway_id,
            patchOperations=[{"op": "replace", "path": "/remaining", "value": str(max(0, remaining))}],
        )

    def add_remaining(self, *, plan: PlanSpec, key: KeySpec, amount: int, at: datetime) -> None:
        remaining = self.remaining(plan=plan, key=key, at=at)
        if remaining is None:
            return
        self.set_remaining(plan=plan, key=key, remaining=remaining + amount, at=at)

    def usage(
        self, *, plan: PlanSpec, keys: list[KeySpec], start: date, end: date
    ) -> dict[int, list[DayUsage]]:
        by_gateway_id = {k.gateway_id: k.pk for k in keys if k.gateway_id}
        result: dict[int, list[DayUsage]] = {}
        if not plan.gateway_id or not by_gateway_id:
            return result
        for page in self._pages(
            "get_usage", usagePlanId=plan.gateway_id, startDate=start.isoformat(), endDate=end.isoformat()
        ):
            for gateway_id, days in (page.get("items") or {}).items():
                pk = by_gateway_id.get(gateway_id)
                if pk is None:
                    continue
                rows = result.setdefault(pk, [])
                for offset, pair in enumerate(days):
                    used, remaining = int(pair[0]), pair[1]
                    rows.append(
                        DayUsage(
                            day=start + timedelta(days=offset),
                            used=used,
                            remaining=None if remaining is None else int(remaining),
                        )
                    )
        return result

    # --- reconcile -----------------------------------------------------------------------------
    def inventory(self) -> GatewayInventory:
        inventory = GatewayInventory()
        for page in self._pages("get_usage_plans"):
            for plan in page.get("items", []):
                if PLAN_TAG in (plan.get("tags") or {}):
                    inventory.plans[str(plan["id"])] = dict(plan)
        for page in self._pages("get_api_keys", includeValues=False):
            for item in page.get("items", []):
                item.pop("value", None)
                if KEY_TAG in (item.get("tags") or {}):
                    inventory.keys[str(item["id"])] = dict(item)
        for plan_id in inventory.plans:
            members: set[str] = set()
            for page in self._pages("get_usage_plan_keys", usagePlanId=plan_id):
                members.update(str(item["id"]) for item in page.get("items", []))
            inventory.plan_keys[plan_id] = members
        return inventory


__all__ = ["ApiGatewayBackend", "MethodThrottle", "classify", "plan_patch_operations"]
