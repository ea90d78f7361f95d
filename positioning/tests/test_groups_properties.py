"""Property tests for groups, rights and binding rules (steps 0-6 of the precedence).

A naive reading of the documented steps, written the slow obvious way over a small world of
markets and groups, must agree with the indexed resolver on every draw; and the invariants the
design promises (rights always win, a binding rule beats every position, a market position beats
every group position, a stronger group beats a weaker one, joining a group changes nothing
elsewhere) are checked on their own.
"""

import dataclasses
from collections.abc import Mapping
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from positioning.resolver import (
    HIDE,
    OPT_IN,
    PROMOTE,
    VISIBLE,
    Candidate,
    Decision,
    GroupSpec,
    MarketSpec,
    PositionSpec,
    Rights,
    RuleSpec,
    decide,
    resolve_feed,
    window_contains,
)
from positioning.tests.test_resolver_properties import (
    AT,
    PROPERTY_SETTINGS,
    SOURCES,
    TAGS,
    TYPES,
    boosts,
    expected_feed,
    instants,
    subsets,
)

MARKETS = ["DE", "AT", "FR"]
GROUPS = ["EU", "DACH", "NORDIC"]
GROUP_STATES = ["hidden", "shown", "promoted", "default"]
STATES = ["hidden", "shown", "promoted", "pinned", "default"]

GroupPositions = dict[str, PositionSpec]


@st.composite
def rules(draw: st.DrawFn, rule_id: str) -> RuleSpec:
    action = draw(st.sampled_from([HIDE, PROMOTE]))
    return RuleSpec(
        id=rule_id,
        action=action,
        tags=draw(subsets(TAGS)),
        content_types=draw(subsets(TYPES)),
        sources=draw(subsets(SOURCES)),
        boost=draw(boosts) if action == PROMOTE else 0,
        starts_at=draw(instants),
        ends_at=draw(instants),
        binding=action == HIDE and draw(st.booleans()),
    )


def rule_sets(ids: list[int]) -> st.SearchStrategy[tuple[RuleSpec, ...]]:
    return st.tuples(*(rules(str(rule_id)) for rule_id in ids))


@st.composite
def worlds(draw: st.DrawFn) -> tuple[dict[str, MarketSpec], dict[str, set[str]]]:
    """Markets DE, AT, FR; groups EU, DACH, NORDIC with members and priorities; rules on each.

    Rule ids are unique across markets and groups, as rows of one database table are.
    """
    owners = MARKETS + GROUPS
    counts = [draw(st.integers(0, 3)) for _ in owners]
    ids = draw(st.lists(st.integers(1, 60), min_size=sum(counts), max_size=sum(counts), unique=True))
    owned: dict[str, tuple[RuleSpec, ...]] = {}
    for owner, count in zip(owners, counts, strict=True):
        owned[owner] = draw(rule_sets(ids[:count]))
        ids = ids[count:]
    priorities = {code: draw(st.integers(1, 3)) for code in GROUPS}
    members = {code: set(draw(st.lists(st.sampled_from(MARKETS), unique=True))) for code in GROUPS}
    return build(owned, priorities, members, draw), members


def build(
    owned: dict[str, tuple[RuleSpec, ...]],
    priorities: dict[str, int],
    members: dict[str, set[str]],
    draw: st.DrawFn,
) -> dict[str, MarketSpec]:
    visibility = {code: draw(st.sampled_from([VISIBLE, OPT_IN])) for code in MARKETS}
    specs = {}
    for code in MARKETS:
        groups = tuple(
            GroupSpec(group, priorities[group], owned[group]) for group in GROUPS if code in members[group]
        )
        specs[code] = MarketSpec(code, visibility[code], owned[code], groups)
    return specs


@st.composite
def rights(draw: st.DrawFn) -> Rights | None:
    if draw(st.booleans()):
        return None
    return Rights(
        allow=draw(subsets(MARKETS)),
        deny=draw(subsets(MARKETS)),
        starts_at=draw(instants),
        ends_at=draw(instants),
    )


@st.composite
def items(draw: st.DrawFn, content_id: str = "c1") -> Candidate:
    return Candidate(
        content_id=content_id,
        content_type=draw(st.sampled_from(TYPES)),
        source=draw(st.sampled_from(SOURCES)),
        tags=draw(subsets(TAGS)),
        rights=draw(rights()),
    )


@st.composite
def positions(draw: st.DrawFn, content_id: str = "c1", states: list[str] = STATES) -> PositionSpec:
    state = draw(st.sampled_from(states))
    return PositionSpec(
        content_id=content_id,
        state=state,
        boost=draw(st.integers(1, 4)) if state == "promoted" else 0,
        slot=draw(st.integers(1, 6)) if state == "pinned" else None,
        starts_at=draw(instants),
        ends_at=draw(instants),
    )


@st.composite
def group_positions(draw: st.DrawFn, content_id: str = "c1") -> GroupPositions:
    chosen = draw(st.lists(st.sampled_from(GROUPS), unique=True))
    return {code: draw(positions(content_id, GROUP_STATES)) for code in chosen}


def active(spec: RuleSpec | PositionSpec) -> bool:
    return window_contains(spec.starts_at, spec.ends_at, AT)


def matches(rule: RuleSpec, item: Candidate) -> bool:
    named = [
        (rule.tags, bool(rule.tags & item.tags)),
        (rule.content_types, item.content_type in rule.content_types),
        (rule.sources, item.source in rule.sources),
    ]
    return any(values for values, _ in named) and all(ok for values, ok in named if values)


Outcome = tuple[bool, str, int, str, str | None, int, int | None]


def naive(market: MarketSpec, item: Candidate, own: PositionSpec | None, by_group: GroupPositions) -> Outcome:
    """The steps 0-6 of the design, read literally: (visible, state, step, source, rule, boost, slot)."""
    code = market.code
    # 0. rights
    granted = item.rights
    if granted is not None and (
        (granted.allow and code not in granted.allow)
        or code in granted.deny
        or not window_contains(granted.starts_at, granted.ends_at, AT)
    ):
        return False, "hidden", 0, "", None, 0, None
    owners = [(code, market.rules)] + [(group.code, group.rules) for group in market.groups]
    matching = [
        (rule, owner) for owner, owned in owners for rule in owned if active(rule) and matches(rule, item)
    ]

    def first_hide(binding: bool) -> tuple[RuleSpec, str] | None:
        hides = [(r, o) for r, o in matching if r.action == HIDE and r.binding == binding]
        return min(hides, key=lambda ro: (int(ro[0].id), ro[1] != code, ro[1]), default=None)

    # 1. binding hide rules of the market and its groups
    if (binding := first_hide(True)) is not None:
        return False, "hidden", 1, binding[1], binding[0].id, 0, None
    # 2. the market's own position
    if own is not None and own.state != "default" and active(own):
        boost = own.boost if own.state == "promoted" else 0
        slot = own.slot if own.state == "pinned" else None
        return own.state != "hidden", own.state, 2, code, None, boost, slot
    # 3. the groups' positions: strongest group, then hidden > shown > promoted, then boost
    priority = {group.code: group.priority for group in market.groups}
    order = {"hidden": 0, "shown": 1, "promoted": 2}
    live = [
        (priority[group], order[spec.state], -spec.boost, group, spec)
        for group, spec in by_group.items()
        if group in priority and spec.state != "default" and active(spec)
    ]
    if live:
        *_, group, spec = min(live, key=lambda entry: entry[:4])
        boost = spec.boost if spec.state == "promoted" else 0
        return spec.state != "hidden", spec.state, 3, group, None, boost, None
    # 4. other hide rules
    if (hide := first_hide(False)) is not None:
        return False, "hidden", 4, hide[1], hide[0].id, 0, None
    # 5. promote rules, highest boost
    promotes = [(r, o) for r, o in matching if r.action == PROMOTE]
    if promotes:
        rule, owner = min(promotes, key=lambda ro: (-ro[0].boost, int(ro[0].id), ro[1] != code, ro[1]))
        return True, "promoted", 5, owner, rule.id, rule.boost, None
    # 6. the default
    if market.default_visibility == OPT_IN:
        return False, "hidden", 6, code, None, 0, None
    return True, "visible", 6, code, None, 0, None


def outcome(decision: Decision) -> Outcome:
    return (
        decision.visible,
        decision.state,
        decision.step,
        decision.source,
        decision.rule_id,
        decision.boost,
        decision.slot,
    )


@PROPERTY_SETTINGS
@given(
    world=worlds(),
    code=st.sampled_from(MARKETS),
    item=items(),
    own=st.none() | positions(),
    by_group=group_positions(),
)
def test_decide_agrees_with_a_naive_reading_of_steps_0_to_6(
    world: tuple[dict[str, MarketSpec], dict[str, set[str]]],
    code: str,
    item: Candidate,
    own: PositionSpec | None,
    by_group: GroupPositions,
) -> None:
    # Given any world of markets and groups, item, market position and group positions
    market = world[0][code]

    # When the item is decided, then the indexed resolver agrees with the literal steps
    assert outcome(decide(market, item, own, AT, by_group)) == naive(market, item, own, by_group)


@PROPERTY_SETTINGS
@given(
    world=worlds(),
    code=st.sampled_from(MARKETS),
    item=items(),
    own=st.none() | positions(),
    by_group=group_positions(),
)
def test_rights_always_win(
    world: tuple[dict[str, MarketSpec], dict[str, set[str]]],
    code: str,
    item: Candidate,
    own: PositionSpec | None,
    by_group: GroupPositions,
) -> None:
    # Given an item denied in the market, whatever the positions and rules say
    item = dataclasses.replace(item, rights=Rights(deny=frozenset({code})))

    # When it is decided, then it is hidden by its rights
    decision = decide(world[0][code], item, own, AT, by_group)
    assert (decision.visible, decision.decided_by, decision.step) == (False, "rights", 0)
    assert decision.reason == f"Not licensed in {code}"


@PROPERTY_SETTINGS
@given(
    world=worlds(),
    code=st.sampled_from(MARKETS),
    item=items(),
    own=positions(states=["shown", "promoted", "pinned"]),
    by_group=group_positions(),
)
def test_a_binding_rule_beats_every_position(
    world: tuple[dict[str, MarketSpec], dict[str, set[str]]],
    code: str,
    item: Candidate,
    own: PositionSpec,
    by_group: GroupPositions,
) -> None:
    # Given a licensed item matched by an active binding hide rule of the market
    item = dataclasses.replace(item, rights=None, tags=frozenset({"hunting"}))
    binding = RuleSpec(id="999", action=HIDE, tags=frozenset({"hunting"}), binding=True)
    market = world[0][code]
    market = dataclasses.replace(market, rules=(*market.rules, binding))
    own = dataclasses.replace(own, starts_at=None, ends_at=None)

    # When it is decided with an active position showing it
    decision = decide(market, item, own, AT, by_group)

    # Then a binding rule hides it (this one or another binding rule)
    assert (decision.visible, decision.step, decision.binding) == (False, 1, True)


@PROPERTY_SETTINGS
@given(
    world=worlds(),
    code=st.sampled_from(MARKETS),
    item=items(),
    own=positions(states=["hidden", "shown", "promoted", "pinned"]),
    by_group=group_positions(),
)
def test_a_market_position_beats_every_group_position(
    world: tuple[dict[str, MarketSpec], dict[str, set[str]]],
    code: str,
    item: Candidate,
    own: PositionSpec,
    by_group: GroupPositions,
) -> None:
    # Given a licensed item no binding rule hides, with an active market position
    item = dataclasses.replace(item, rights=None)
    market = world[0][code]
    market = dataclasses.replace(
        market,
        rules=tuple(dataclasses.replace(rule, binding=False) for rule in market.rules),
        groups=tuple(
            dataclasses.replace(
                group, rules=tuple(dataclasses.replace(r, binding=False) for r in group.rules)
            )
            for group in market.groups
        ),
    )
    own = dataclasses.replace(own, starts_at=None, ends_at=None)

    # When / Then the market's own position decides, whatever its groups say
    decision = decide(market, item, own, AT, by_group)
    assert (decision.decided_by, decision.state, decision.step) == ("position", own.state, 2)


@PROPERTY_SETTINGS
@given(
    item=items(),
    strong=positions(states=["hidden", "shown", "promoted"]),
    weak=positions(states=["hidden", "shown", "promoted"]),
    priorities=st.tuples(st.integers(1, 50), st.integers(1, 50)).filter(lambda p: p[0] != p[1]),
)
def test_a_group_of_lower_priority_number_beats_a_higher_one(
    item: Candidate, strong: PositionSpec, weak: PositionSpec, priorities: tuple[int, int]
) -> None:
    # Given two groups of a market with different priorities, both with an active position
    low, high = sorted(priorities)
    item = dataclasses.replace(item, rights=None)
    market = MarketSpec("DE", groups=(GroupSpec("WEAK", high), GroupSpec("STRONG", low)))
    strong = dataclasses.replace(strong, starts_at=None, ends_at=None)
    weak = dataclasses.replace(weak, starts_at=None, ends_at=None)

    # When the item is decided
    decision = decide(market, item, None, AT, {"STRONG": strong, "WEAK": weak})

    # Then the group with the lower number decides
    assert (decision.source, decision.state, decision.step) == ("STRONG", strong.state, 3)


@PROPERTY_SETTINGS
@given(
    world=worlds(),
    group=st.sampled_from(GROUPS),
    joining=st.sampled_from(MARKETS),
    item=items(),
    own=st.none() | positions(),
    by_group=group_positions(),
)
def test_adding_a_member_to_a_group_never_changes_decisions_in_other_markets(
    world: tuple[dict[str, MarketSpec], dict[str, set[str]]],
    group: str,
    joining: str,
    item: Candidate,
    own: PositionSpec | None,
    by_group: GroupPositions,
) -> None:
    # Given a world, and the same world where `joining` has joined `group`
    specs, members = world
    spec_of = {g.code: g for market in specs.values() for g in market.groups}
    if group not in spec_of:
        spec_of[group] = GroupSpec(group, 1)
    joined = dict(specs)
    market = specs[joining]
    if group not in {g.code for g in market.groups}:
        joined[joining] = dataclasses.replace(market, groups=(*market.groups, spec_of[group]))

    # When every other market decides the item, then nothing changed there
    for code in MARKETS:
        if code != joining:
            assert decide(joined[code], item, own, AT, by_group) == decide(
                specs[code], item, own, AT, by_group
            )


@st.composite
def group_feeds(
    draw: st.DrawFn,
) -> tuple[list[Candidate], dict[str, PositionSpec], dict[str, dict[str, PositionSpec]]]:
    count = draw(st.integers(0, 10))
    candidates = [draw(items(f"c{n}")) for n in range(count)]
    own: dict[str, PositionSpec] = {}
    by_group: dict[str, dict[str, PositionSpec]] = {}
    for candidate in candidates:
        if draw(st.booleans()):
            own[candidate.content_id] = draw(positions(candidate.content_id))
        for code, spec in draw(group_positions(candidate.content_id)).items():
            by_group.setdefault(code, {})[candidate.content_id] = spec
    return candidates, own, by_group


@PROPERTY_SETTINGS
@given(world=worlds(), code=st.sampled_from(MARKETS), feed=group_feeds(), include_hidden=st.booleans())
def test_a_feed_with_groups_and_rights_orders_decide_s_answers_as_documented(
    world: tuple[dict[str, MarketSpec], dict[str, set[str]]],
    code: str,
    feed: tuple[list[Candidate], dict[str, PositionSpec], dict[str, dict[str, PositionSpec]]],
    include_hidden: bool,
) -> None:
    # Given candidates with rights, market positions and group positions
    candidates, own, by_group = feed
    market = world[0][code]

    # When the feed is resolved
    resolved = resolve_feed(
        market, candidates, own, AT, group_positions=by_group, include_hidden=include_hidden
    )

    # Then it is the documented order of the per-item decisions
    per_item: Mapping[str, Decision] = {
        c.content_id: decide(
            market,
            c,
            own.get(c.content_id),
            AT,
            {g: specs[c.content_id] for g, specs in by_group.items() if c.content_id in specs},
        )
        for c in candidates
    }
    expected = expected_feed(market, candidates, own, include_hidden, decisions=per_item)
    assert resolved == expected


def test_a_group_cannot_pin() -> None:
    # Given a group position that pins, when decided, then the resolver refuses it
    market = MarketSpec("DE", groups=(GroupSpec("EU", 1),))
    pin = PositionSpec("c1", "pinned", slot=1)
    with pytest.raises(ValueError, match="groups cannot pin"):
        decide(market, Candidate("c1"), None, AT, {"EU": pin})


def test_only_hide_rules_bind() -> None:
    market = MarketSpec("DE", rules=(RuleSpec("1", PROMOTE, tags=frozenset({"x"}), binding=True),))
    with pytest.raises(ValueError, match="only hide rules can be binding"):
        decide(market, Candidate("c1"), None, AT)


@pytest.mark.parametrize(
    ("rights", "reason"),
    [
        (Rights(deny=frozenset({"FR"})), "Not licensed in FR"),
        (Rights(allow=frozenset({"DE", "AT"})), "Not licensed in FR"),
        (
            Rights(starts_at=datetime.fromisoformat("2027-01-01T00:00:00+00:00")),
            "Not licensed in FR until 2027-01-01",
        ),
        (
            Rights(ends_at=datetime.fromisoformat("2025-05-31T18:30:00+00:00")),
            "Not licensed in FR since 2025-05-31 18:30 UTC",
        ),
    ],
)
def test_rights_explain_themselves(rights: Rights, reason: str) -> None:
    # Given an item with rights that exclude FR at AT, shown by an FR position
    item = Candidate("c1", rights=rights)
    shown = PositionSpec("c1", "shown")

    # When it is decided in FR, then the rights hide it and say why
    decision = decide(MarketSpec("FR"), item, shown, AT)
    assert (decision.visible, decision.decided_by, decision.reason) == (False, "rights", reason)


def test_explanations_name_the_group_and_the_binding_rule() -> None:
    # Given DE in DACH (priority 1) and EU (priority 5), a binding DE hunting rule and group positions
    hunting = RuleSpec("7", HIDE, tags=frozenset({"hunting"}), binding=True)
    market = MarketSpec(
        "DE",
        rules=(hunting,),
        groups=(GroupSpec("EU", 5, (RuleSpec("12", HIDE, tags=frozenset({"gore"})),)), GroupSpec("DACH", 1)),
    )
    alps = PositionSpec("c1", "promoted", boost=5, author="Mia", reason="Alps week")
    eu_hide = PositionSpec("c1", "hidden")

    # When items are decided, then each reason names its step's source
    promoted = decide(market, Candidate("c1"), None, AT, {"DACH": alps, "EU": eu_hide})
    assert promoted.reason == "Promoted by group DACH position with boost 5 (Mia, 'Alps week')"
    assert (promoted.step, promoted.source, promoted.decided_by) == (3, "DACH", "group_position")
    gore = decide(market, Candidate("c2", tags=frozenset({"gore"})), None, AT)
    assert gore.reason == "Hidden by group EU rule #12: tags gore"
    hunted = decide(market, Candidate("c1", tags=frozenset({"hunting"})), PositionSpec("c1", "shown"), AT)
    assert hunted.reason == "Hidden by rule #7 (binding): tags hunting"
    assert (hunted.step, hunted.binding) == (1, True)


@PROPERTY_SETTINGS
@given(
    item=items(),
    first=positions(states=["hidden", "shown", "promoted"]),
    second=positions(states=["hidden", "shown", "promoted"]),
    priority=st.integers(1, 9),
)
def test_between_groups_of_equal_priority_hidden_beats_shown_beats_promoted_then_boost(
    item: Candidate, first: PositionSpec, second: PositionSpec, priority: int
) -> None:
    # Given two groups of one priority, both with an active position for a licensed item
    item = dataclasses.replace(item, rights=None)
    market = MarketSpec("DE", groups=(GroupSpec("EU", priority), GroupSpec("DACH", priority)))
    first = dataclasses.replace(first, starts_at=None, ends_at=None)
    second = dataclasses.replace(second, starts_at=None, ends_at=None)

    # When the item is decided
    decision = decide(market, item, None, AT, {"EU": first, "DACH": second})

    # Then the stronger state wins, then the higher boost, then the group code (stable)
    order = {"hidden": 0, "shown": 1, "promoted": 2}
    winner = min(
        [("EU", first), ("DACH", second)],
        key=lambda entry: (order[entry[1].state], -entry[1].boost, entry[0]),
    )
    assert (decision.source, decision.state, decision.boost) == (
        winner[0],
        winner[1].state,
        winner[1].boost if winner[1].state == "promoted" else 0,
    )


def test_on_equal_rule_ids_the_market_s_own_rule_explains_the_decision() -> None:
    # Given a market rule and a group rule that share an id (rules kept in two tables)
    market = MarketSpec(
        "DE",
        rules=(RuleSpec("3", HIDE, tags=frozenset({"x"})),),
        groups=(GroupSpec("EU", 1, (RuleSpec("3", HIDE, tags=frozenset({"x"})),)),),
    )

    # When an item both match is decided, then the market's own rule is named
    decision = decide(market, Candidate("c1", tags=frozenset({"x"})), None, AT)
    assert (decision.source, decision.reason) == ("DE", "Hidden by rule #3: tags x")
