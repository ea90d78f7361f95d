"""Tests for positioning/resolver.py: precedence tiers, windows, reasons and feed order.

Pure data in, decisions out: none of these tests touch the database.
"""

import dataclasses
import subprocess
import sys
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

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
HOUR = timedelta(hours=1)
NAIVE_AT = AT.replace(tzinfo=None)


def item(
    content_id: str = "c1", content_type: str = "article", source: str = "wire", *tags: str
) -> Candidate:
    return Candidate(content_id, content_type, source, frozenset(tags))


Values = str | Iterable[str]


def _set(values: Values) -> frozenset[str]:
    # Let tests write tags="hunting" for one value; specs want frozensets.
    return frozenset([values] if isinstance(values, str) else values)


def rule(
    rule_id: str,
    action: str,
    *,
    tags: Values = (),
    content_types: Values = (),
    sources: Values = (),
    boost: int = 0,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
) -> RuleSpec:
    return RuleSpec(
        id=rule_id,
        action=action,
        tags=_set(tags),
        content_types=_set(content_types),
        sources=_set(sources),
        boost=boost,
        starts_at=starts_at,
        ends_at=ends_at,
    )


def hide(rule_id: str = "1", **criteria: Any) -> RuleSpec:
    return rule(rule_id, HIDE, **criteria)


def promote(rule_id: str = "1", boost: int = 10, **criteria: Any) -> RuleSpec:
    return rule(rule_id, PROMOTE, boost=boost, **criteria)


def market(*rules: RuleSpec, visibility: str = VISIBLE) -> MarketSpec:
    return MarketSpec(code="DE", default_visibility=visibility, rules=rules)


def position(content_id: str = "c1", state: str = "hidden", **fields: Any) -> PositionSpec:
    return PositionSpec(content_id=content_id, state=state, **fields)


def ids(feed: list[Resolved]) -> list[str]:
    return [entry.candidate.content_id for entry in feed]


# --- Tier 1: positions ------------------------------------------------------------------------


def test_hidden_position_beats_a_promote_rule() -> None:
    # Given an item a promote rule would promote, and a hidden position by Mia
    rules = market(promote("7", tags="hunting"))
    override = position(state="hidden", author="Mia", reason="legal note")

    # When it is decided
    decision = decide(rules, item("c1", "article", "wire", "hunting"), override, AT)

    # Then the position hides it, and says who and why
    assert decision == Decision(
        visible=False,
        state="hidden",
        decided_by="position",
        reason="Hidden by position (Mia, 'legal note')",
        step=2,
        source="DE",
    )


def test_shown_position_beats_a_hide_rule() -> None:
    # Given a hide rule matching the item and a shown position
    rules = market(hide("4", tags="hunting"))

    # When it is decided
    decision = decide(rules, item("c1", "article", "wire", "hunting"), position(state="shown"), AT)

    # Then the item is visible, forced by the position
    assert decision.visible
    assert decision.state == "shown"
    assert decision.decided_by == "position"
    assert decision.rule_id is None


def test_shown_position_admits_an_item_into_an_opt_in_market() -> None:
    # Given an opt-in market and a shown position
    opt_in = market(visibility=OPT_IN)

    # When the item is decided
    decision = decide(opt_in, item(), position(state="shown"), AT)

    # Then it is visible
    assert decision.visible
    assert decision.state == "shown"


def test_promoted_position_carries_its_boost_and_beats_a_hide_rule() -> None:
    # Given a hide rule and a promoted position with boost 30
    rules = market(hide("4", content_types="article"))

    # When it is decided
    decision = decide(rules, item(), position(state="promoted", boost=30, author="Ana"), AT)

    # Then the position promotes it with its boost
    assert decision == Decision(
        visible=True,
        state="promoted",
        decided_by="position",
        boost=30,
        reason="Promoted by position with boost 30 (Ana)",
        step=2,
        source="DE",
    )


def test_pinned_position_carries_its_slot() -> None:
    # Given a pinned position at slot 3, in an opt-in market
    override = position(state="pinned", slot=3, reason="launch")

    # When it is decided
    decision = decide(market(visibility=OPT_IN), item(), override, AT)

    # Then the item is visible, pinned at slot 3
    assert decision == Decision(
        visible=True,
        state="pinned",
        decided_by="position",
        slot=3,
        reason="Pinned by position at slot 3 ('launch')",
        step=2,
        source="DE",
    )


def test_default_state_position_is_ignored() -> None:
    # Given a hide rule and a position whose state is "default" (no override)
    rules = market(hide("4", tags="hunting"))
    candidate = item("c1", "article", "wire", "hunting")

    # When it is decided
    decision = decide(rules, candidate, position(state="default"), AT)

    # Then the rule decides, exactly as without a position
    assert decision == decide(rules, candidate, None, AT)
    assert decision.decided_by == "rule"


def test_position_without_author_or_reason_has_a_plain_reason() -> None:
    # Given / When a bare hidden position decides
    decision = decide(market(), item(), position(state="hidden"), AT)

    # Then the reason names the position only
    assert decision.reason == "Hidden by position"


# --- Tier 2 and 3: rules ----------------------------------------------------------------------


def test_hide_rule_hides_a_matching_item_and_says_which_rule() -> None:
    # Given a hide rule on the tag "hunting"
    rules = market(hide("4", tags="hunting"))

    # When a hunting item is decided
    decision = decide(rules, item("c1", "article", "wire", "hunting", "outdoors"), None, AT)

    # Then rule #4 hides it
    assert decision == Decision(
        visible=False,
        state="hidden",
        decided_by="rule",
        rule_id="4",
        reason="Hidden by rule #4: tags hunting",
        step=4,
        source="DE",
    )


def test_hide_rule_leaves_a_non_matching_item_alone() -> None:
    # Given a hide rule on "hunting"
    rules = market(hide("4", tags="hunting"))

    # When an item without that tag is decided
    decision = decide(rules, item("c1", "article", "wire", "fishing"), None, AT)

    # Then the default applies
    assert decision.visible
    assert decision.decided_by == "default"


def test_hide_rule_beats_a_promote_rule() -> None:
    # Given a promote rule and a hide rule both matching
    rules = market(promote("1", boost=99, tags="news"), hide("9", sources="wire"))

    # When it is decided
    decision = decide(rules, item("c1", "article", "wire", "news"), None, AT)

    # Then the hide rule wins
    assert not decision.visible
    assert decision.rule_id == "9"


def test_several_hide_rules_report_the_smallest_id_numerically() -> None:
    # Given hide rules #10 and #4 both matching (string order would pick "10")
    rules = market(hide("10", tags="news"), hide("4", content_types="article"))

    # When it is decided
    decision = decide(rules, item("c1", "article", "wire", "news"), None, AT)

    # Then rule #4 is the one reported
    assert decision.rule_id == "4"


def test_highest_promote_boost_wins() -> None:
    # Given three matching promote rules with boosts 5, 40 and 20
    rules = market(
        promote("1", boost=5, tags="news"),
        promote("2", boost=40, sources="wire"),
        promote("3", boost=20, content_types="article"),
    )

    # When it is decided
    decision = decide(rules, item("c1", "article", "wire", "news"), None, AT)

    # Then the boost-40 rule promotes it
    assert decision == Decision(
        visible=True,
        state="promoted",
        decided_by="rule",
        boost=40,
        rule_id="2",
        reason="Promoted by rule #2 with boost 40: sources wire",
        step=5,
        source="DE",
    )


def test_equal_promote_boosts_pick_the_smallest_id() -> None:
    # Given two matching promote rules with the same boost
    rules = market(promote("12", boost=7, tags="news"), promote("3", boost=7, tags="news"))

    # When / Then the smaller id decides
    assert decide(rules, item("c1", "article", "wire", "news"), None, AT).rule_id == "3"


def test_promote_rule_admits_an_item_into_an_opt_in_market() -> None:
    # Given an opt-in market with a promote rule on "news"
    opt_in = market(promote("5", boost=3, tags="news"), visibility=OPT_IN)

    # When a news item and another item are decided
    news = decide(opt_in, item("c1", "article", "wire", "news"), None, AT)
    other = decide(opt_in, item("c2", "article", "wire", "sport"), None, AT)

    # Then only the promoted one is visible
    assert news.visible
    assert news.state == "promoted"
    assert not other.visible


def test_multi_criteria_rule_needs_every_named_criterion() -> None:
    # Given "hide videos tagged hunting"
    rules = market(hide("4", content_types="video", tags="hunting"))

    # When videos and articles with and without the tag are decided
    def visible(content_type: str, *tags: str) -> bool:
        return decide(rules, item("c1", content_type, "wire", *tags), None, AT).visible

    # Then only a video tagged hunting is hidden
    assert not visible("video", "hunting", "outdoors")
    assert visible("article", "hunting")
    assert visible("video", "fishing")
    assert visible("video")


def test_each_criterion_matches_any_of_its_values() -> None:
    # Given a rule naming two tags, two types and two sources
    rule = hide("4", tags={"a", "b"}, content_types={"video", "gallery"}, sources={"wire", "afp"})
    rules = market(rule)

    # When / Then any one value of each criterion is enough, and all three criteria must hold
    assert not decide(rules, item("c1", "gallery", "afp", "b"), None, AT).visible
    assert not decide(rules, item("c1", "video", "wire", "a", "z"), None, AT).visible
    assert decide(rules, item("c1", "video", "reuters", "a"), None, AT).visible
    assert decide(rules, item("c1", "article", "wire", "a"), None, AT).visible


def test_rule_reason_lists_every_criterion_and_the_note() -> None:
    # Given a multi-criteria rule with a note
    rule = RuleSpec(
        id="4",
        action=HIDE,
        tags=frozenset({"hunting", "guns"}),
        content_types=frozenset({"video"}),
        note="partner contract",
    )

    # When it hides an item
    decision = decide(market(rule), item("c1", "video", "wire", "guns"), None, AT)

    # Then the reason says what it matched on
    expected = "Hidden by rule #4: types video; tags guns, hunting (partner contract)"
    assert decision.reason == expected


def test_rule_naming_no_criterion_matches_nothing() -> None:
    # Given a (invalid, but possible) hide rule with no criteria
    rules = market(RuleSpec(id="1", action=HIDE))

    # When / Then nothing is hidden by it
    assert decide(rules, item("c1", "article", "wire", "news"), None, AT).decided_by == "default"


def test_active_rules_are_ranked_hides_first_then_by_boost() -> None:
    # Given rules in no particular order, one of them expired
    rules = market(
        promote("1", boost=5, tags="a"),
        hide("3", tags="b"),
        promote("2", boost=50, tags="c"),
        hide("2", tags="d", ends_at=AT),
    )

    # When they are indexed
    resolver = MarketResolver(rules, AT)

    # Then the active ones come in precedence order
    assert [rule.id for rule in resolver.active_rules] == ["3", "2", "1"]


# --- Tier 4: the market default ---------------------------------------------------------------


def test_visible_market_shows_an_item_no_rule_matches() -> None:
    # Given / When an item nothing matches is decided
    decision = decide(market(hide("1", tags="x")), item(), None, AT)

    # Then it is visible by default
    assert decision == Decision(
        visible=True,
        state="visible",
        decided_by="default",
        reason="Visible by default",
        step=6,
        source="DE",
    )


def test_opt_in_market_hides_an_item_no_rule_matches() -> None:
    # Given / When an item nothing matches is decided in an opt-in market
    decision = decide(market(visibility=OPT_IN), item(), None, AT)

    # Then it is hidden, and the reason explains opt-in
    assert decision == Decision(
        visible=False,
        state="hidden",
        decided_by="default",
        reason="Hidden: opt-in market shows only shown, promoted or pinned items",
        step=6,
        source="DE",
    )


# --- Windows ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("starts_at", "ends_at", "expected"),
    [
        (None, None, True),  # both ends open
        (AT, None, True),  # starts_at is inclusive
        (AT + timedelta(microseconds=1), None, False),  # not started yet
        (AT - HOUR, None, True),
        (None, AT, False),  # ends_at is exclusive
        (None, AT + timedelta(microseconds=1), True),  # last instant of the window
        (None, AT - HOUR, False),
        (AT - HOUR, AT + HOUR, True),
        (AT + HOUR, AT - HOUR, False),  # inverted window contains nothing
        (AT, AT, False),  # empty window contains nothing
    ],
)
def test_window_contains_is_half_open(
    starts_at: datetime | None, ends_at: datetime | None, expected: bool
) -> None:
    # Given a window, when `at` is tested, then [starts_at, ends_at) decides
    assert window_contains(starts_at, ends_at, AT) is expected


def test_window_compares_instants_across_timezones() -> None:
    # Given a window ending at 22:00 in Sydney (+10:00), i.e. 12:00 UTC
    sydney = timezone(timedelta(hours=10))

    # When / Then it has ended at 12:00 UTC and was open a second earlier
    ends_at = datetime(2025, 6, 1, 22, 0, tzinfo=sydney)
    assert not window_contains(None, ends_at, AT)
    assert window_contains(None, ends_at, AT - timedelta(seconds=1))


@pytest.mark.parametrize(
    ("starts_at", "ends_at", "at"),
    [
        (None, None, NAIVE_AT),
        (NAIVE_AT, None, AT),
        (None, NAIVE_AT, AT),
    ],
)
def test_window_rejects_naive_datetimes(
    starts_at: datetime | None, ends_at: datetime | None, at: datetime
) -> None:
    # Given a naive datetime anywhere, when the window is tested, then it is refused
    with pytest.raises(ValueError, match="timezone-aware"):
        window_contains(starts_at, ends_at, at)


def test_resolver_rejects_a_naive_evaluation_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        MarketResolver(market(), NAIVE_AT)


def test_resolver_rejects_a_rule_with_a_naive_window_even_when_inactive() -> None:
    # Given a rule whose naive window would only open next year
    rule = hide("1", tags="a", starts_at=NAIVE_AT.replace(year=2026))

    # When / Then the market is refused now, not on the day it opens
    with pytest.raises(ValueError, match="timezone-aware"):
        MarketResolver(market(rule), AT)


def test_decide_rejects_a_position_with_a_naive_window() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        decide(market(), item(), position(state="hidden", ends_at=NAIVE_AT), AT)


def test_rule_applies_from_its_start_inclusive() -> None:
    # Given a hide rule starting exactly at `at`
    rules = market(hide("1", tags="a", starts_at=AT))
    candidate = item("c1", "article", "wire", "a")

    # When / Then it hides at `at` but not a microsecond before
    assert not decide(rules, candidate, None, AT).visible
    assert decide(rules, candidate, None, AT - timedelta(microseconds=1)).visible


def test_rule_stops_at_its_end_exclusive() -> None:
    # Given a hide rule ending exactly at `at`
    rules = market(hide("1", tags="a", ends_at=AT))
    candidate = item("c1", "article", "wire", "a")

    # When / Then it no longer hides at `at` but did a microsecond before
    assert decide(rules, candidate, None, AT).visible
    assert not decide(rules, candidate, None, AT - timedelta(microseconds=1)).visible


def test_expired_position_falls_back_to_the_rules() -> None:
    # Given a shown position that ended at `at`, and a hide rule
    rules = market(hide("4", tags="a"))
    override = position(state="shown", starts_at=AT - HOUR, ends_at=AT)

    # When it is decided
    decision = decide(rules, item("c1", "article", "wire", "a"), override, AT)

    # Then the rule decides
    assert decision.decided_by == "rule"
    assert not decision.visible


def test_future_position_does_not_apply_yet() -> None:
    # Given a hidden position starting an hour from now
    override = position(state="hidden", starts_at=AT + HOUR)

    # When / Then the item follows the default
    assert decide(market(), item(), override, AT).decided_by == "default"


def test_position_applies_from_its_start_inclusive() -> None:
    override = position(state="hidden", starts_at=AT)

    assert decide(market(), item(), override, AT).decided_by == "position"


# --- Bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (MarketSpec(code="DE", default_visibility="sometimes"), "default_visibility"),
        (market(RuleSpec(id="1", action="demote", tags=frozenset({"a"}))), "unknown action"),
    ],
)
def test_resolver_rejects_unknown_market_settings(spec: MarketSpec, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MarketResolver(spec, AT)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (position(state="buried"), "unknown state"),
        (position(state="pinned"), "slot"),
        (position(state="pinned", slot=0), "slot"),
        (position(content_id="other", state="hidden"), "given for candidate"),
    ],
)
def test_decide_rejects_invalid_positions(override: PositionSpec, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decide(market(), item("c1"), override, AT)


def test_resolve_feed_rejects_invalid_positions_too() -> None:
    with pytest.raises(ValueError, match="slot"):
        resolve_feed(market(), [item("c1")], {"c1": position(state="pinned")}, AT)


# --- Feed order -------------------------------------------------------------------------------


def test_feed_drops_hidden_items_and_keeps_candidate_order() -> None:
    # Given five items, two of them hidden (one by rule, one by position)
    candidates = [item(f"c{n}", "article", "wire", "hunting" if n == 2 else "x") for n in range(5)]
    positions = {"c4": position("c4", "hidden")}

    # When the feed is resolved
    feed = resolve_feed(market(hide("1", tags="hunting")), candidates, positions, AT)

    # Then the visible ones remain, in the search engine's order
    assert ids(feed) == ["c0", "c1", "c3"]


def test_promoted_items_move_ahead_by_boost_with_stable_ties() -> None:
    # Given plain, shown and promoted items (rule boost 10, positions 30 and 10)
    candidates = [
        item("plain-1"),
        item("rule-10a", "article", "wire", "news"),
        item("shown"),
        item("pos-30"),
        item("rule-10b", "article", "wire", "news"),
        item("pos-10"),
        item("plain-2"),
    ]
    positions = {
        "shown": position("shown", "shown"),
        "pos-30": position("pos-30", "promoted", boost=30),
        "pos-10": position("pos-10", "promoted", boost=10),
    }

    # When the feed is resolved
    feed = resolve_feed(market(promote("1", boost=10, tags="news")), candidates, positions, AT)

    # Then promoted come first by boost, equal boosts in candidate order, then the rest in order
    assert ids(feed) == ["pos-30", "rule-10a", "rule-10b", "pos-10", "plain-1", "shown", "plain-2"]


def test_negative_boost_is_still_promoted_ahead_of_plain_items() -> None:
    candidates = [item("plain"), item("low")]
    positions = {"low": position("low", "promoted", boost=-5)}

    assert ids(resolve_feed(market(), candidates, positions, AT)) == ["low", "plain"]


def test_pinned_items_take_their_slot_in_the_final_list() -> None:
    # Given four plain items, a promoted one, and pins at slots 1 and 3
    candidates = [item("a"), item("b"), item("pin-3"), item("c"), item("promo"), item("pin-1")]
    positions = {
        "pin-3": position("pin-3", "pinned", slot=3),
        "pin-1": position("pin-1", "pinned", slot=1),
        "promo": position("promo", "promoted", boost=5),
    }

    # When the feed is resolved
    feed = resolve_feed(market(), candidates, positions, AT)

    # Then the pins sit at positions 1 and 3 of the final list, even ahead of a promoted item
    assert ids(feed) == ["pin-1", "promo", "pin-3", "a", "b", "c"]
    assert feed[0].decision.state == "pinned"


def test_slot_past_the_end_appends_the_pin() -> None:
    # Given two plain items and pins at slots 50 and 9
    candidates = [item("pin-50"), item("a"), item("pin-9"), item("b")]
    positions = {
        "pin-50": position("pin-50", "pinned", slot=50),
        "pin-9": position("pin-9", "pinned", slot=9),
    }

    # When / Then both go to the end, in slot order
    assert ids(resolve_feed(market(), candidates, positions, AT)) == ["a", "b", "pin-9", "pin-50"]


def test_two_pins_on_one_slot_go_in_candidate_order_one_after_the_other() -> None:
    # Given two pins wanting slot 2
    candidates = [item("a"), item("second"), item("b"), item("first"), item("c")]
    positions = {
        "first": position("first", "pinned", slot=2),
        "second": position("second", "pinned", slot=2),
    }

    # When / Then the lower candidate index takes slot 2 and the other follows at 3
    feed = resolve_feed(market(), candidates, positions, AT)
    assert ids(feed) == ["a", "second", "first", "b", "c"]


def test_pinned_items_are_visible_in_an_opt_in_market() -> None:
    candidates = [item("a"), item("pin")]
    positions = {"pin": position("pin", "pinned", slot=5)}

    assert ids(resolve_feed(market(visibility=OPT_IN), candidates, positions, AT)) == ["pin"]


def test_include_hidden_appends_hidden_items_after_visible_ones_with_decisions() -> None:
    # Given items hidden by rule and by position among visible and pinned ones
    candidates = [item("h1", "video"), item("a"), item("h2"), item("pin"), item("b")]
    positions = {"h2": position("h2", "hidden"), "pin": position("pin", "pinned", slot=99)}

    # When the feed is resolved with include_hidden
    feed = resolve_feed(
        market(hide("1", content_types="video")), candidates, positions, AT, include_hidden=True
    )

    # Then the visible list (pin appended at its end) comes first, then the hidden in order
    assert ids(feed) == ["a", "b", "pin", "h1", "h2"]
    assert [entry.decision.decided_by for entry in feed[3:]] == ["rule", "position"]
    assert not any(entry.decision.visible for entry in feed[3:])


def test_empty_feed_resolves_to_an_empty_list() -> None:
    assert resolve_feed(market(), [], {}, AT) == []


def test_feed_entries_carry_the_same_decisions_as_decide() -> None:
    # Given a mixed market
    rules = market(hide("1", tags="x"), promote("2", boost=4, sources="afp"))
    candidates = [item("a", "article", "afp"), item("b", "article", "wire", "x"), item("c")]
    positions = {"c": position("c", "shown", author="Mia")}

    # When the feed is resolved with hidden items
    feed = resolve_feed(rules, candidates, positions, AT, include_hidden=True)

    # Then every entry is a real, frozen Resolved equal to one built the ordinary way
    for entry in feed:
        expected = decide(rules, entry.candidate, positions.get(entry.candidate.content_id), AT)
        assert type(entry) is Resolved
        assert entry == Resolved(entry.candidate, expected)
        assert hash(entry) == hash(Resolved(entry.candidate, expected))
        with pytest.raises(dataclasses.FrozenInstanceError):
            entry.decision = expected  # type: ignore[misc]  # the point of the test


def test_resolved_has_exactly_the_fields_the_feed_fills() -> None:
    # The feed fills Resolved's slots directly for speed; a new field must update it.
    assert [field.name for field in dataclasses.fields(Resolved)] == ["candidate", "decision"]


def test_one_resolver_serves_many_decisions_and_feeds() -> None:
    # Given one resolver indexed once
    rules = market(hide("1", content_types="video"), promote("2", boost=3, tags="news"))
    resolver = MarketResolver(rules, AT)
    candidates = [item("v", "video"), item("n", "article", "wire", "news"), item("p", "podcast")]

    # When it is used repeatedly / Then it agrees with the one-shot functions every time
    for _ in range(2):
        for candidate in candidates:
            assert resolver.decide(candidate, None) == decide(rules, candidate, None, AT)
        assert resolver.resolve_feed(candidates, {}) == resolve_feed(rules, candidates, {}, AT)


def test_resolver_imports_without_django() -> None:
    # Given a fresh interpreter with no Django settings, when the resolver is imported,
    # then Django is not loaded (the public-API Lambda reuses this module as is)
    import positioning

    # Where `positioning` comes from: the repository, or the installed wheel in a clean venv.
    root = Path(positioning.__file__).resolve().parents[1]
    code = "import sys, positioning.resolver; assert 'django' not in sys.modules, sorted(sys.modules)"
    env = {"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
