"""The one positioning resolver: which items a market shows, in what order, and why.

Pure functions over plain frozen data (no Django import), so the admin preview, the REST API,
the reference feed endpoint, the public-API Lambda and the tests all share one implementation
of the precedence in docs/shared-tables.md, "Positioning semantics":

1. an item position whose window contains `at` (and whose state is not "default") wins;
2. else an active hide rule that matches the item hides it;
3. else active promote rules that match promote it with the highest boost;
4. else the market default applies: visible, or hidden in an opt-in market.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

__all__ = [
    "BY_DEFAULT",
    "BY_POSITION",
    "BY_RULE",
    "DEFAULT",
    "HIDDEN",
    "HIDE",
    "OPT_IN",
    "PINNED",
    "POSITION_STATES",
    "PROMOTE",
    "PROMOTED",
    "SHOWN",
    "VISIBLE",
    "Candidate",
    "Decision",
    "MarketResolver",
    "MarketSpec",
    "PositionSpec",
    "Resolved",
    "RuleSpec",
    "decide",
    "resolve_feed",
    "window_contains",
]

# Market default visibility.
VISIBLE: Final = "visible"
OPT_IN: Final = "opt_in"

# Rule actions.
HIDE: Final = "hide"
PROMOTE: Final = "promote"

# Position states; DEFAULT means "no override" and is ignored by the resolver.
HIDDEN: Final = "hidden"
SHOWN: Final = "shown"
PROMOTED: Final = "promoted"
PINNED: Final = "pinned"
DEFAULT: Final = "default"
POSITION_STATES: Final = frozenset({HIDDEN, SHOWN, PROMOTED, PINNED, DEFAULT})

# Decision.decided_by values.
BY_POSITION: Final = "position"
BY_RULE: Final = "rule"
BY_DEFAULT: Final = "default"

OPT_IN_HIDDEN_REASON: Final = "Hidden: opt-in market shows only shown, promoted or pinned items"
VISIBLE_BY_DEFAULT_REASON: Final = "Visible by default"


@dataclass(frozen=True, slots=True)
class Candidate:
    """A content item the search engine proposes for a feed."""

    content_id: str
    content_type: str = ""
    source: str = ""
    tags: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """A market rule that hides or promotes every item matching all of its named criteria."""

    id: str
    action: str  # HIDE | PROMOTE
    tags: frozenset[str] = frozenset()
    content_types: frozenset[str] = frozenset()
    sources: frozenset[str] = frozenset()
    boost: int = 0
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    note: str = ""


@dataclass(frozen=True, slots=True)
class PositionSpec:
    """An editor's override for one item in one market."""

    content_id: str
    state: str  # HIDDEN | SHOWN | PROMOTED | PINNED | DEFAULT
    boost: int = 0
    slot: int | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    reason: str = ""
    author: str = ""
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class MarketSpec:
    """A market's default visibility and its rules."""

    code: str
    default_visibility: str = VISIBLE
    rules: tuple[RuleSpec, ...] = ()


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome for one item, and why."""

    visible: bool
    state: str  # "hidden" | "shown" | "promoted" | "pinned" | "visible"
    decided_by: str  # "position" | "rule" | "default"
    boost: int = 0
    slot: int | None = None
    rule_id: str | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Resolved:
    """One feed entry: the candidate with its decision."""

    candidate: Candidate
    decision: Decision


def _require_aware(value: datetime, name: str) -> None:
    # Naive datetimes would compare against aware ones with a TypeError at best and silently
    # shift windows by the server's offset at worst, so they are refused up front.
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got naive {value!r}")


def window_contains(starts_at: datetime | None, ends_at: datetime | None, at: datetime) -> bool:
    """Return whether `at` is in [starts_at, ends_at), either end open; naive raises ValueError."""
    _require_aware(at, "at")
    if starts_at is not None:
        _require_aware(starts_at, "starts_at")
        if at < starts_at:
            return False
    if ends_at is not None:
        _require_aware(ends_at, "ends_at")
        if at >= ends_at:
            return False
    return True


def _rule_order_key(rule_id: str) -> tuple[int, int, str]:
    # Database ids arrive as digit strings; ordering them numerically makes rule #4 beat #10
    # the way an editor reading the reasons expects, and anything else falls back to string order.
    if rule_id.isascii() and rule_id.isdigit():
        return (0, int(rule_id), "")
    return (1, 0, rule_id)


def _criteria_text(rule: RuleSpec) -> str:
    parts = []
    if rule.content_types:
        parts.append("types " + ", ".join(sorted(rule.content_types)))
    if rule.sources:
        parts.append("sources " + ", ".join(sorted(rule.sources)))
    if rule.tags:
        parts.append("tags " + ", ".join(sorted(rule.tags)))
    return "; ".join(parts)


def _rule_decision(rule: RuleSpec) -> Decision:
    note = f" ({rule.note})" if rule.note else ""
    if rule.action == HIDE:
        return Decision(
            visible=False,
            state=HIDDEN,
            decided_by=BY_RULE,
            rule_id=rule.id,
            reason=f"Hidden by rule #{rule.id}: {_criteria_text(rule)}{note}",
        )
    return Decision(
        visible=True,
        state=PROMOTED,
        decided_by=BY_RULE,
        boost=rule.boost,
        rule_id=rule.id,
        reason=f"Promoted by rule #{rule.id} with boost {rule.boost}: {_criteria_text(rule)}{note}",
    )


def _position_by(position: PositionSpec) -> str:
    who = [position.author] if position.author else []
    if position.reason:
        who.append(f"'{position.reason}'")
    return f" ({', '.join(who)})" if who else ""


# What a resolver memoises per (content type, source): the rank decided by the rules that need
# no tag, the best rank per tag among the tag rules that also fit this type and source (only
# ranks that beat the tagless one are kept), and the isdisjoint() of the set of those tags, so
# that an item with no relevant tag costs one C-level call rather than a loop over its tags.
_Context = tuple[int, dict[str, int], Callable[[Iterable[str]], bool]]
_Bucket = Callable[[Resolved], None]


class MarketResolver:
    """Rules of one market pre-indexed for one evaluation time `at`."""

    __slots__ = ("_contexts", "_decisions", "_rules", "at", "market")

    def __init__(self, market: MarketSpec, at: datetime) -> None:
        """Index the market's rules active at `at`; raises ValueError on invalid specs."""
        _require_aware(at, "at")
        if market.default_visibility not in (VISIBLE, OPT_IN):
            raise ValueError(
                f"market {market.code!r}: unknown default_visibility "
                f"{market.default_visibility!r} (expected {VISIBLE!r} or {OPT_IN!r})"
            )
        hides: list[RuleSpec] = []
        promotes: list[RuleSpec] = []
        for rule in market.rules:
            if rule.action not in (HIDE, PROMOTE):
                raise ValueError(f"rule #{rule.id}: unknown action {rule.action!r}")
            # Checked for every rule, not only active ones, so a bad row fails loudly today
            # rather than on the day its window opens.
            active = window_contains(rule.starts_at, rule.ends_at, at)
            # A rule naming no criterion matches nothing (validation elsewhere forbids it).
            if active and (rule.tags or rule.content_types or rule.sources):
                (hides if rule.action == HIDE else promotes).append(rule)
        hides.sort(key=lambda rule: _rule_order_key(rule.id))
        promotes.sort(key=lambda rule: (-rule.boost, _rule_order_key(rule.id)))
        # Rules ranked by precedence: every hide beats every promote, a higher boost beats a
        # lower one, ties go to the smaller id. The deciding rule is then simply the matching
        # rule of smallest rank, and the market default sits at rank len(rules).
        self._rules: tuple[RuleSpec, ...] = (*hides, *promotes)
        if market.default_visibility == VISIBLE:
            default = Decision(True, VISIBLE, BY_DEFAULT, reason=VISIBLE_BY_DEFAULT_REASON)
        else:
            default = Decision(False, HIDDEN, BY_DEFAULT, reason=OPT_IN_HIDDEN_REASON)
        # One shared immutable Decision per rule (and one default) instead of one per item.
        self._decisions: tuple[Decision, ...] = (
            *(_rule_decision(rule) for rule in self._rules),
            default,
        )
        self._contexts: dict[str, dict[str, _Context]] = {}
        self.market = market
        self.at = at

    @property
    def active_rules(self) -> tuple[RuleSpec, ...]:
        """Return the rules active at `at` in precedence order: hides by id, then promotes."""
        return self._rules

    def _context(self, content_type: str, source: str) -> _Context:
        rules = self._rules
        tagless = len(rules)
        tag_ranks: dict[str, int] = {}
        for rank, rule in enumerate(rules):
            if rule.content_types and content_type not in rule.content_types:
                continue
            if rule.sources and source not in rule.sources:
                continue
            if not rule.tags:
                tagless = min(tagless, rank)
                continue
            for tag in rule.tags:
                # Ranks ascend, so the first rule seen for a tag is its best one.
                tag_ranks.setdefault(tag, rank)
        ranks = {tag: rank for tag, rank in tag_ranks.items() if rank < tagless}
        context: _Context = (tagless, ranks, frozenset(ranks).isdisjoint)
        # Filled lazily: a market sees few (type, source) pairs. Two threads racing here only
        # compute the same value twice.
        self._contexts.setdefault(content_type, {})[source] = context
        return context

    def _rank(self, candidate: Candidate) -> int:
        by_source = self._contexts.get(candidate.content_type)
        context = None if by_source is None else by_source.get(candidate.source)
        if context is None:
            context = self._context(candidate.content_type, candidate.source)
        best, ranks, disjoint = context
        if not disjoint(candidate.tags):
            for tag in candidate.tags:
                if tag in ranks and ranks[tag] < best:
                    best = ranks[tag]
        return best

    def _by_position(self, candidate: Candidate, position: PositionSpec) -> Decision | None:
        if position.content_id != candidate.content_id:
            raise ValueError(
                f"position for {position.content_id!r} given for candidate {candidate.content_id!r}"
            )
        state = position.state
        if state not in POSITION_STATES:
            raise ValueError(f"position {position.content_id!r}: unknown state {state!r}")
        if not window_contains(position.starts_at, position.ends_at, self.at) or state == DEFAULT:
            return None
        by = _position_by(position)
        if state == HIDDEN:
            return Decision(False, HIDDEN, BY_POSITION, reason=f"Hidden by position{by}")
        if state == SHOWN:
            return Decision(True, SHOWN, BY_POSITION, reason=f"Shown by position{by}")
        if state == PROMOTED:
            boost = position.boost
            reason = f"Promoted by position with boost {boost}{by}"
            return Decision(True, PROMOTED, BY_POSITION, boost=boost, reason=reason)
        slot = position.slot
        if slot is None or slot < 1:
            raise ValueError(f"position {position.content_id!r}: pinned needs a slot >= 1")
        reason = f"Pinned by position at slot {slot}{by}"
        return Decision(True, PINNED, BY_POSITION, slot=slot, reason=reason)

    def decide(self, candidate: Candidate, position: PositionSpec | None) -> Decision:
        """Decide one item at `at`; raises ValueError on naive datetimes or invalid positions."""
        if position is not None:
            decision = self._by_position(candidate, position)
            if decision is not None:
                return decision
        return self._decisions[self._rank(candidate)]

    def resolve_feed(
        self,
        candidates: Sequence[Candidate],
        positions: Mapping[str, PositionSpec],
        *,
        include_hidden: bool = False,
    ) -> list[Resolved]:
        """Order the visible candidates (then the hidden ones if asked); raises like decide()."""
        plain: list[Resolved] = []
        pinned: list[Resolved] = []
        hidden: list[Resolved] = []
        # Promoted items are collected in one list per boost, in candidate order, so joining
        # the lists by descending boost is the stable sort the feed needs, without sorting.
        promoted_by_boost: dict[int, list[Resolved]] = {}
        # Where each state goes; None drops an item before its Resolved is even built.
        bucket_of_state: dict[str, _Bucket | None] = {
            VISIBLE: plain.append,
            SHOWN: plain.append,
            PINNED: pinned.append,
            HIDDEN: hidden.append if include_hidden else None,
        }

        def bucket_for(decision: Decision) -> _Bucket | None:
            if decision.state == PROMOTED:
                return promoted_by_boost.setdefault(decision.boost, []).append
            return bucket_of_state[decision.state]

        decisions = self._decisions
        bucket_of_rank = [bucket_for(decision) for decision in decisions]
        by_position = self._by_position
        contexts = self._contexts
        new_context = self._context
        new_resolved, set_candidate, set_decision = _NEW_RESOLVED, _SET_CANDIDATE, _SET_DECISION
        # The hot path of every feed (see bench/resolver.py): _rank() is inlined and names are
        # bound to locals once, because a Python call or attribute lookup per item costs about
        # as much as the work itself.
        for candidate in candidates:
            bucket: _Bucket | None
            # `in` then a subscript for the few items with a position: cheaper than a .get() call
            # for every item.
            key = candidate.content_id
            if key in positions and (decision := by_position(candidate, positions[key])):
                bucket = bucket_for(decision)
                if bucket is None:
                    continue
            else:
                # Subscripts under try rather than .get(): no call per item, and a try block
                # is free until it raises (only on the first item of a new type and source).
                try:
                    best, ranks, disjoint = contexts[candidate.content_type][candidate.source]
                except KeyError:
                    best, ranks, disjoint = new_context(candidate.content_type, candidate.source)
                tags = candidate.tags
                if not disjoint(tags):
                    # `in` before indexing: most tags are not in `ranks`, and a membership
                    # test is cheaper than a dict.get() call.
                    for tag in tags:
                        if tag in ranks:
                            rank = ranks[tag]
                            if rank < best:
                                best = rank
                bucket = bucket_of_rank[best]
                if bucket is None:
                    continue
                decision = decisions[best]
            entry = new_resolved(Resolved)
            set_candidate(entry, candidate)
            set_decision(entry, decision)
            bucket(entry)

        ordered: list[Resolved] = []
        for boost in sorted(promoted_by_boost, reverse=True):
            ordered += promoted_by_boost[boost]
        ordered += plain
        if pinned:
            ordered = _place_pins(ordered, pinned)
        ordered += hidden
        return ordered


# A frozen dataclass's __init__ assigns each field through object.__setattr__, which costs
# about as much as deciding the item; a feed builds up to one Resolved per candidate, so it
# fills the two slots directly instead. The result is the same object (equal, hashable, frozen
# afterwards); tests/markets/test_resolver.py pins Resolved's fields so this cannot drift.
_NEW_RESOLVED: Final = object.__new__
_RESOLVED_SLOTS: Final = Resolved.__dict__
_SET_CANDIDATE: Final[Callable[[Resolved, Candidate], None]] = _RESOLVED_SLOTS["candidate"].__set__
_SET_DECISION: Final[Callable[[Resolved, Decision], None]] = _RESOLVED_SLOTS["decision"].__set__


def _place_pins(ordered: list[Resolved], pinned: list[Resolved]) -> list[Resolved]:
    # Same result as inserting the pins one by one, in (slot, candidate order), at index
    # min(max(slot - 1, previous pin's index + 1), current length), but as one linear merge:
    # list.insert into a 100k-item feed would be quadratic in the number of pins.
    pinned.sort(key=_slot)  # stable: two pins on one slot keep candidate order
    merged: list[Resolved] = []
    taken = 0
    for pin in pinned:
        remaining = len(ordered) - taken
        target = min(max(_slot(pin) - 1, len(merged)), len(merged) + remaining)
        fill = target - len(merged)
        if fill:
            merged += ordered[taken : taken + fill]
            taken += fill
        merged.append(pin)
    merged += ordered[taken:]
    return merged


def _slot(entry: Resolved) -> int:
    slot = entry.decision.slot
    assert slot is not None  # _by_position refuses a pinned position without a slot
    return slot


def decide(
    market: MarketSpec,
    candidate: Candidate,
    position: PositionSpec | None,
    at: datetime,
) -> Decision:
    """Decide one item in one market at `at`; raises ValueError on invalid specs."""
    return MarketResolver(market, at).decide(candidate, position)


def resolve_feed(
    market: MarketSpec,
    candidates: Sequence[Candidate],
    positions: Mapping[str, PositionSpec],
    at: datetime,
    *,
    include_hidden: bool = False,
) -> list[Resolved]:
    """Resolve and order a market's feed at `at`; raises ValueError on invalid specs."""
    resolver = MarketResolver(market, at)
    return resolver.resolve_feed(candidates, positions, include_hidden=include_hidden)
