"""Property tests for positioning/resolver.py: invariants that hold for any market, item and time.

Small alphabets (5 tags, 3 types, 3 sources, windows within two hours of `AT`) make rules,
positions and items collide often, which is where precedence bugs live.
"""

import dataclasses
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from positioning.resolver import (
    HIDE,
    OPT_IN,
    PROMOTE,
    VISIBLE,
    Candidate,
    Decision,
    MarketResolver,
    MarketSpec,
    PositionSpec,
    Resolved,
    RuleSpec,
    decide,
    resolve_feed,
    window_contains,
)

AT = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
TAGS = ["hunting", "fishing", "news", "sport", "politics"]
TYPES = ["article", "video", "gallery"]
SOURCES = ["wire", "afp", "own"]
STATES = ["hidden", "shown", "promoted", "pinned", "default"]
OVERRIDES = ["hidden", "shown", "promoted", "pinned"]

PROPERTY_SETTINGS = settings(max_examples=200, deadline=None)

# Few boosts, so that equal boosts (ties that must keep candidate order) are common.
boosts = st.integers(-2, 5)

# Window ends: open, on AT, a microsecond before it, or minutes and hours around it.
instants = st.sampled_from(
    [None, AT, AT - timedelta(microseconds=1)]
    + [AT + minutes * MINUTE for minutes in (-120, -60, -1, 1, 60, 120)]
)
# Windows that do not contain AT: not started, ended at AT, long over, empty, inverted.
windows_excluding_at = st.sampled_from(
    [(AT + MINUTE, None), (None, AT), (AT - 120 * MINUTE, AT - MINUTE), (AT, AT), (AT + MINUTE, AT)]
)


def subsets(values: list[str]) -> st.SearchStrategy[frozenset[str]]:
    # A bit mask is one cheap draw (st.frozensets rejects duplicates, which is slow), and the
    # explicit empty branch makes "criterion not named" as common as "named".
    masks = st.integers(1, 2 ** len(values) - 1).map(
        lambda mask: frozenset(value for bit, value in enumerate(values) if mask >> bit & 1)
    )
    return st.just(frozenset[str]()) | masks


@st.composite
def rule_specs(draw: st.DrawFn, rule_id: str = "1", action: str | None = None) -> RuleSpec:
    return RuleSpec(
        id=rule_id,
        action=action or draw(st.sampled_from([HIDE, PROMOTE])),
        tags=draw(subsets(TAGS)),
        content_types=draw(subsets(TYPES)),
        sources=draw(subsets(SOURCES)),
        boost=draw(boosts),
        starts_at=draw(instants),
        ends_at=draw(instants),
    )


@st.composite
def markets(draw: st.DrawFn, visibility: str | None = None) -> MarketSpec:
    count = draw(st.integers(0, 6))
    # Ids are unique, as in the database, and mix one- and two-digit numbers.
    rule_ids = draw(st.lists(st.integers(1, 30), min_size=count, max_size=count, unique=True))
    return MarketSpec(
        code="DE",
        default_visibility=visibility or draw(st.sampled_from([VISIBLE, OPT_IN])),
        rules=tuple(draw(rule_specs(str(rule_id))) for rule_id in rule_ids),
    )


@st.composite
def candidates(draw: st.DrawFn, content_id: str = "c1") -> Candidate:
    return Candidate(
        content_id=content_id,
        content_type=draw(st.sampled_from(TYPES)),
        source=draw(st.sampled_from(SOURCES)),
        tags=draw(subsets(TAGS)),
    )


@st.composite
def positions(draw: st.DrawFn, content_id: str = "c1", states: list[str] = STATES) -> PositionSpec:
    return PositionSpec(
        content_id=content_id,
        state=draw(st.sampled_from(states)),
        boost=draw(boosts),
        slot=draw(st.integers(1, 12)),
        starts_at=draw(instants),
        ends_at=draw(instants),
    )


@st.composite
def feeds(draw: st.DrawFn) -> tuple[list[Candidate], dict[str, PositionSpec]]:
    count = draw(st.integers(0, 12))
    items = [draw(candidates(f"c{n}")) for n in range(count)]
    chosen = draw(st.lists(st.sampled_from(items), unique=True) if items else st.just([]))
    return items, {item.content_id: draw(positions(item.content_id)) for item in chosen}


def decide_one(market: MarketSpec, item: Candidate, overrides: dict[str, PositionSpec]) -> Decision:
    return decide(market, item, overrides.get(item.content_id), AT)


def expected_feed(
    market: MarketSpec,
    items: list[Candidate],
    overrides: dict[str, PositionSpec],
    include_hidden: bool,
    decisions: Mapping[str, Decision] | None = None,
) -> list[Resolved]:
    # The documented ordering rules (docs/shared-tables.md) written the slow, obvious way, with list.insert.
    entries = [
        Resolved(
            item,
            decide_one(market, item, overrides) if decisions is None else decisions[item.content_id],
        )
        for item in items
    ]
    visible = [entry for entry in entries if entry.decision.visible]
    promoted = sorted(
        (entry for entry in visible if entry.decision.state == "promoted"),
        key=lambda entry: -entry.decision.boost,
    )
    plain = [entry for entry in visible if entry.decision.state in {"visible", "shown"}]
    pins = sorted(
        (entry for entry in visible if entry.decision.state == "pinned"),
        key=lambda entry: entry.decision.slot or 0,
    )
    ordered = promoted + plain
    previous = -1
    for pin in pins:
        index = min(max((pin.decision.slot or 0) - 1, previous + 1), len(ordered))
        ordered.insert(index, pin)
        previous = index
    hidden = [entry for entry in entries if not entry.decision.visible]
    return ordered + hidden if include_hidden else ordered


def in_window(spec: RuleSpec | PositionSpec) -> bool:
    return window_contains(spec.starts_at, spec.ends_at, AT)


def naive_outcome(
    market: MarketSpec, item: Candidate, override: PositionSpec | None
) -> tuple[bool, str, str, str | None, int, int | None]:
    # The documented precedence read literally: no index, no ranks, every rule checked in turn.
    if override is not None and override.state != "default" and in_window(override):
        boost = override.boost if override.state == "promoted" else 0
        slot = override.slot if override.state == "pinned" else None
        return override.state != "hidden", override.state, "position", None, boost, slot

    def matches(rule: RuleSpec) -> bool:
        named = [
            (rule.tags, bool(rule.tags & item.tags)),
            (rule.content_types, item.content_type in rule.content_types),
            (rule.sources, item.source in rule.sources),
        ]
        return any(values for values, _ in named) and all(ok for values, ok in named if values)

    active = [rule for rule in market.rules if in_window(rule) and matches(rule)]
    hides = sorted((rule for rule in active if rule.action == HIDE), key=lambda rule: int(rule.id))
    if hides:
        return False, "hidden", "rule", hides[0].id, 0, None
    promotes = sorted(
        (rule for rule in active if rule.action == PROMOTE),
        key=lambda rule: (-rule.boost, int(rule.id)),
    )
    if promotes:
        return True, "promoted", "rule", promotes[0].id, promotes[0].boost, None
    if market.default_visibility == OPT_IN:
        return False, "hidden", "default", None, 0, None
    return True, "visible", "default", None, 0, None


@PROPERTY_SETTINGS
@given(market=markets(), item=candidates(), override=st.none() | positions())
def test_decide_agrees_with_a_naive_reading_of_the_precedence(
    market: MarketSpec, item: Candidate, override: PositionSpec | None
) -> None:
    # Given any market, item and position, when the item is decided
    decision = decide(market, item, override, AT)

    # Then the indexed resolver finds what checking every rule in turn finds
    outcome = (
        decision.visible,
        decision.state,
        decision.decided_by,
        decision.rule_id,
        decision.boost,
        decision.slot,
    )
    assert outcome == naive_outcome(market, item, override)


@PROPERTY_SETTINGS
@given(market=markets(), item=candidates(), override=positions(states=OVERRIDES))
def test_an_active_override_always_wins(
    market: MarketSpec,
    item: Candidate,
    override: PositionSpec,
) -> None:
    # Given an override whose window contains AT
    override = dataclasses.replace(override, starts_at=None, ends_at=None)

    # When the item is decided
    decision = decide(market, item, override, AT)

    # Then the position decides, whatever the rules and the market default say
    assert decision.decided_by == "position"
    assert decision.state == override.state
    assert decision.visible is (override.state != "hidden")


@PROPERTY_SETTINGS
@given(market=markets(), item=candidates(), override=positions(), window=windows_excluding_at)
def test_an_override_outside_its_window_never_applies(
    market: MarketSpec,
    item: Candidate,
    override: PositionSpec,
    window: tuple[datetime | None, datetime | None],
) -> None:
    # Given any position whose window does not contain AT
    override = dataclasses.replace(override, starts_at=window[0], ends_at=window[1])
    assert not window_contains(override.starts_at, override.ends_at, AT)

    # When / Then the decision is exactly the one without a position
    assert decide(market, item, override, AT) == decide(market, item, None, AT)


@PROPERTY_SETTINGS
@given(market=markets(), item=candidates(), override=positions())
def test_a_default_state_position_never_applies(
    market: MarketSpec, item: Candidate, override: PositionSpec
) -> None:
    # Given a position whose state is "default", whatever its window
    override = dataclasses.replace(override, state="default")

    # When / Then it is as if there were no position
    assert decide(market, item, override, AT) == decide(market, item, None, AT)


@PROPERTY_SETTINGS
@given(
    market=markets(),
    item=candidates(),
    override=st.none() | positions(),
    extra=rule_specs(rule_id="99", action=HIDE),
)
def test_adding_a_hide_rule_never_makes_anything_visible(
    market: MarketSpec, item: Candidate, override: PositionSpec | None, extra: RuleSpec
) -> None:
    # Given a decision, when a hide rule is added to the market
    before = decide(market, item, override, AT)
    after = decide(dataclasses.replace(market, rules=(*market.rules, extra)), item, override, AT)

    # Then an item hidden before stays hidden
    assert before.visible or not after.visible


@PROPERTY_SETTINGS
@given(market=markets(visibility=OPT_IN), item=candidates(), override=st.none() | positions())
def test_opt_in_markets_show_only_shown_promoted_or_pinned_items(
    market: MarketSpec, item: Candidate, override: PositionSpec | None
) -> None:
    # Given an opt-in market, when any item is decided
    decision = decide(market, item, override, AT)

    # Then it is visible only if a position shows, promotes or pins it, or a promote rule does
    if decision.visible:
        assert decision.state in {"shown", "promoted", "pinned"}
        assert decision.decided_by == "position" or decision.state == "promoted"
    else:
        assert decision.state == "hidden"


@PROPERTY_SETTINGS
@given(market=markets(), feed=feeds(), include_hidden=st.booleans())
def test_resolve_feed_is_a_permutation_of_the_visible_subset_in_design_order(
    market: MarketSpec, feed: tuple[list[Candidate], dict[str, PositionSpec]], include_hidden: bool
) -> None:
    # Given candidates with positions
    items, overrides = feed

    # When the feed is resolved
    resolved = resolve_feed(market, items, overrides, AT, include_hidden=include_hidden)

    # Then it holds exactly the visible items (plus the hidden ones, last, if asked)...
    visible = [item for item in items if decide_one(market, item, overrides).visible]
    count = len(visible)
    assert sorted(entry.candidate.content_id for entry in resolved[:count]) == sorted(
        item.content_id for item in visible
    )
    assert all(entry.decision.visible for entry in resolved[:count])
    assert len(resolved) == (len(items) if include_hidden else count)
    # ...in the order the docs describe, with the decisions decide() gives
    assert resolved == expected_feed(market, items, overrides, include_hidden)


@PROPERTY_SETTINGS
@given(market=markets(), items=st.lists(candidates(), max_size=8), override=st.none() | positions())
def test_market_resolver_decide_equals_decide(
    market: MarketSpec, items: list[Candidate], override: PositionSpec | None
) -> None:
    # Given one resolver reused for several items, when each is decided
    resolver = MarketResolver(market, AT)

    # Then it answers exactly as the one-shot function
    for item in items:
        assert resolver.decide(item, override) == decide(market, item, override, AT)
