"""Properties of applying change requests (hypothesis):

- applying a request equals making its changes directly (both succeed alike, or both change nothing);
- applying twice is a no-op;
- a stale object fails the whole request and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import User
from content.models import Position
from content.services import PositionChange, position_set
from markets.models import Market, Rule
from markets.services import market_update, rule_create
from portal.audit.models import AuditEntry
from portal.change_requests.models import RequestState
from portal.change_requests.services import Operation, request_apply, request_approve, request_create

SETTINGS = settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

position_changes = st.one_of(
    st.builds(
        PositionChange,
        state=st.sampled_from(["hidden", "shown", "default"]),
        reason=st.sampled_from(["", "x"]),
    ),
    st.builds(PositionChange, state=st.just("promoted"), boost=st.integers(1, 5)),
    st.builds(PositionChange, state=st.just("pinned"), slot=st.integers(1, 3)),
)
# (item index, change) with each item once; plus maybe a new rule and a new market name
position_ops = st.lists(
    st.tuples(st.integers(0, 5), position_changes), min_size=1, max_size=5, unique_by=lambda t: t[0]
)
# Without pins: nothing but the meddling can fail these (no slot is ever taken).
unpinned_ops = st.lists(
    st.tuples(
        st.integers(0, 5),
        st.one_of(
            st.builds(PositionChange, state=st.sampled_from(["hidden", "shown", "default"])),
            st.builds(PositionChange, state=st.just("promoted"), boost=st.integers(1, 5)),
        ),
    ),
    min_size=1,
    max_size=5,
    unique_by=lambda t: t[0],
)
rule_boosts = st.one_of(st.none(), st.integers(1, 9))
names = st.one_of(st.none(), st.sampled_from(["Optus Plus", "Optus Max"]))


class _Undo(Exception):
    pass


def undone(work: Callable[[], Any]) -> Any:
    """Run `work` in a transaction that is rolled back; return its result."""
    box: list[Any] = []
    try:
        with transaction.atomic():
            box.append(work())
            raise _Undo
    except _Undo:
        pass
    return box[0]


def state_of(market: Market) -> dict[str, Any]:
    market.refresh_from_db()
    return {
        "positions": sorted(
            Position.objects.filter(market=market, version__gt=0).values_list(
                "item_id", "state", "boost", "slot", "reason", "version", "author_id"
            )
        ),
        "rules": sorted(
            Rule.objects.filter(market=market).values_list(
                "action", "boost", "match_sources", "version", "author_id"
            )
        ),
        "market": (market.name, market.version),
    }


def operations(items: list, ops: list, boost: int | None, name: str | None) -> list[Operation]:
    out = [Operation.position(items[i], change) for i, change in ops]
    if boost is not None:
        out.append(Operation.rule_create(action="promote", boost=boost, match_sources=["natgeo-editorial"]))
    if name is not None:
        out.insert(0, Operation.settings(name=name))
    return out


def directly(
    market: Market, actor: User, items: list, ops: list, boost: int | None, name: str | None
) -> None:
    with transaction.atomic():
        if name is not None:
            market_update(actor=actor, market=market, name=name, via="request")
        for i, change in ops:
            position_set(actor=actor, market=market, item=items[i], change=change, via="request")
        if boost is not None:
            rule_create(
                actor=actor,
                market=market,
                action="promote",
                boost=boost,
                match_sources=["natgeo-editorial"],
                via="request",
            )


@pytest.fixture
def seeded(guarded: Market, sam: User, items: list) -> Market:
    position_set(actor=sam, market=guarded, item=items[0], change=PositionChange(state="pinned", slot=1))
    position_set(actor=sam, market=guarded, item=items[1], change=PositionChange(state="hidden"))
    return guarded


@SETTINGS
@given(ops=position_ops, boost=rule_boosts, name=names)
def test_applying_a_request_equals_making_its_changes_directly(
    seeded: Market, ana: User, sam: User, items: list, ops: list, boost: int | None, name: str | None
) -> None:
    def direct() -> tuple[bool, dict[str, Any]]:
        try:
            directly(seeded, ana, items, ops, boost, name)
        except ValidationError:
            return False, state_of(seeded)
        return True, state_of(seeded)

    def via_request() -> tuple[bool, dict[str, Any]]:
        cr = request_create(
            actor=ana, market=seeded, title="p", operations=operations(items, ops, boost, name), submit=True
        )
        cr = request_approve(actor=sam, request=cr)
        return cr.state == RequestState.APPLIED, state_of(seeded)

    before = state_of(seeded)
    ok_direct, after_direct = undone(direct)
    ok_request, after_request = undone(via_request)
    assert ok_direct == ok_request
    assert after_request == after_direct
    if not ok_direct:
        assert after_request == before


@SETTINGS
@given(ops=position_ops, boost=rule_boosts)
def test_applying_twice_is_a_no_op(
    seeded: Market, ana: User, sam: User, items: list, ops: list, boost: int | None
) -> None:
    def work() -> None:
        cr = request_create(
            actor=ana, market=seeded, title="p", operations=operations(items, ops, boost, None), submit=True
        )
        cr = request_approve(actor=sam, request=cr)
        once, entries = state_of(seeded), AuditEntry.objects.count()
        again = request_apply(request=cr)
        assert again.state == cr.state
        assert state_of(seeded) == once
        assert AuditEntry.objects.count() == entries

    undone(work)


@SETTINGS
@given(ops=unpinned_ops, boost=rule_boosts, meddle=st.integers(0, 10))
def test_a_stale_object_fails_the_whole_request_and_changes_nothing(
    seeded: Market, ana: User, sam: User, items: list, ops: list, boost: int | None, meddle: int
) -> None:
    def work() -> None:
        cr = request_create(
            actor=ana,
            market=seeded,
            title="p",
            operations=operations(items, ops, boost, "Renamed"),
            submit=True,
        )
        # someone changes one of the request's objects directly meanwhile
        if meddle % 2:
            market_update(actor=sam, market=seeded, name=f"Meddled {meddle}")
        else:
            index = ops[meddle % len(ops)][0]
            position_set(
                actor=sam,
                market=seeded,
                item=items[index],
                change=PositionChange(state="shown", reason=f"m{meddle}"),
            )
        meddled = state_of(seeded)
        cr = request_approve(actor=sam, request=cr)
        assert cr.state == RequestState.FAILED
        assert "changed since" in cr.failure_reason
        assert state_of(seeded) == meddled

    undone(work)
