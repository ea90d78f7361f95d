"""Exactly once under concurrency: schedulers running apply-due at the same moment apply a request
once (PostgreSQL: the request row is locked, others skip it; CI runs this suite on PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection

from accounts.models import User
from content.models import Position
from content.services import PositionChange
from markets.models import Market
from portal.audit.models import AuditEntry
from portal.change_requests.models import RequestState
from portal.change_requests.services import Operation, request_approve, request_create, requests_apply_due

RUNNERS = 8


@pytest.fixture
def postgres_only(db: None, settings: Any) -> None:
    if connection.vendor != "postgresql":
        pytest.skip(
            "Needs PostgreSQL: SQLite serialises whole-database writes, so it cannot show that the "
            "row lock makes concurrent runs skip a request (CI runs this suite on PostgreSQL too)."
        )
    settings.SHARED_TABLES_PUBLISH_ON_COMMIT = False


@pytest.mark.django_db(transaction=True)
def test_eight_schedulers_at_once_apply_a_request_once(
    postgres_only: None, guarded: Market, ana: User, sam: User, items: list
) -> None:
    at = datetime(2030, 3, 3, 19, 0, tzinfo=UTC)
    cr = request_create(
        actor=ana,
        market=guarded,
        title="Launch",
        operations=[
            Operation.position(item, PositionChange(state="pinned", slot=n + 1))
            for n, item in enumerate(items)
        ],
        apply_at=at,
        submit=True,
    )
    assert request_approve(actor=sam, request=cr).state == RequestState.APPROVED
    barrier = threading.Barrier(RUNNERS, timeout=30)
    applied: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            applied.extend(requests_apply_due(now=at + timedelta(seconds=5)).applied)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    with time_machine.travel(at + timedelta(seconds=5), tick=False):
        threads = [threading.Thread(target=run) for _ in range(RUNNERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    assert not errors, errors
    assert applied == [cr.pk]
    assert AuditEntry.objects.filter(action="change_request.apply").count() == 1
    assert sorted(Position.objects.filter(market=guarded).values_list("version", flat=True)) == [1] * len(
        items
    )


@pytest.mark.django_db(transaction=True)
def test_eight_schedulers_at_once_apply_a_group_request_once(
    postgres_only: None, dach: Any, sam: User, items: list
) -> None:
    from accounts.models import Role
    from content.models import GroupPosition
    from portal.change_requests.services import group_policy_set
    from tests.groups import person

    group_policy_set(actor=sam, group=dach, approvals_required=1, positions=True)
    lukas = person("lukas", Role.MARKET_MANAGER, group=dach)
    at = datetime(2030, 3, 3, 19, 0, tzinfo=UTC)
    cr = request_create(
        actor=lukas,
        group=dach,
        title="Hide in DACH",
        operations=[Operation.position(item, PositionChange(state="hidden")) for item in items],
        apply_at=at,
        submit=True,
    )
    assert request_approve(actor=sam, request=cr).state == RequestState.APPROVED
    barrier = threading.Barrier(RUNNERS, timeout=30)
    applied: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            applied.extend(requests_apply_due(now=at + timedelta(seconds=5)).applied)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    with time_machine.travel(at + timedelta(seconds=5), tick=False):
        threads = [threading.Thread(target=run) for _ in range(RUNNERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    assert not errors, errors
    assert applied == [cr.pk]
    assert AuditEntry.objects.filter(action="change_request.apply").count() == 1
    assert sorted(GroupPosition.objects.filter(group=dach).values_list("version", flat=True)) == [1] * len(
        items
    )
