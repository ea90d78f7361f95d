"""The one positioning resolver: which items a market shows, in what order, and why.

Pure functions over plain frozen data (no Django import), so the admin preview, the REST API,
the reference feed endpoint, the public-API Lambda and the tests all share one implementation
of the precedence in docs/shared-tables.md, "Positioning semantics". For market m (with its
groups G(m)), item c and time t, the first step that applies decides:

0. c is not licensed in m at t (its rights) -> hidden;
1. an active binding hide rule of m or of a group in G(m) that matches c -> hidden;
2. m's own item position for c whose window contains t (state not "default") -> as it says;
3. active positions for c of groups in G(m): the group with the lowest priority number decides;
   between equal priorities hidden beats shown beats promoted, then the highest boost;
4. an active (non-binding) hide rule of m or of a group in G(m) that matches c -> hidden;
5. active promote rules of m and of groups in G(m) that match -> promoted, highest boost;
6. m's default: visible, or hidden in an opt-in market.
"""

from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

__all__ = [
    "BY_DEFAULT",
    "BY_GROUP_POSITION",
    "BY_POSITION",
    "BY_RIGHTS",
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
    "GroupSpec",
    "MarketResolver",
    "MarketSpec",
    "PositionSpec",
    "Resolved",
    "Rights",
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
BY_RIGHTS: Final = "rights"
BY_POSITION: Final = "position"
BY_GROUP_POSITION: Final = "group_position"
BY_RULE: Final = "rule"
BY_DEFAULT: Final = "default"

# Decision.step: the precedence step that decided (see the module docstring).
STEP_RIGHTS: Final = 0
STEP_BINDING_RULE: Final = 1
STEP_POSITION: Final = 2
STEP_GROUP_POSITION: Final = 3
STEP_HIDE_RULE: Final = 4
STEP_PROMOTE_RULE: Final = 5
STEP_DEFAULT: Final = 6

OPT_IN_HIDDEN_REASON: Final = "Hidden: opt-in market shows only shown, promoted or pinned items"
VISIBLE_BY_DEFAULT_REASON: Final = "Visible by default"


@dataclass(frozen=True, slots=True)
class Rights:
    """Upstream licensing of a content item, set by ingestion; nobody in the portal overrides it.

    `allow` lists the markets where the item may appear (empty: everywhere), `deny` those where
    it may not; [starts_at, ends_at) is when it may appear at all (either end open).
    """

    allow: frozenset[str] = frozenset()
    deny: frozenset[str] = frozenset()
    starts_at: datetime | None = None
    ends_at: datetime | None = None

    def licensed(self, market: str, at: datetime) -> bool:
        """Return whether the item may appear in `market` at `at`; naive datetimes raise ValueError."""
        if self.allow and market not in self.allow:
            return False
        if market in self.deny:
            return False
        return window_contains(self.starts_at, self.ends_at, at)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A content item the search engine proposes for a feed."""

    content_id: str
    content_type: str = ""
    source: str = ""
    tags: frozenset[str] = frozenset()
    rights: Rights | None = None


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
    # A binding hide rule (a legal duty) beats every item position; only hide rules may bind.
    binding: bool = False


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
class GroupSpec:
    """A market group (EU, DACH, ...) as one member market sees it: its priority and its rules.

    A lower priority number is stronger. The group's item positions are passed to the resolver
    beside the market's own (`group_positions`), keyed by the group's code.
    """

    code: str
    priority: int = 100
    rules: tuple[RuleSpec, ...] = ()
    name: str = ""


@dataclass(frozen=True, slots=True)
class MarketSpec:
    """A market's default visibility, its rules and the groups it belongs to (any order)."""

    code: str
    default_visibility: str = VISIBLE
    rules: tuple[RuleSpec, ...] = ()
    groups: tuple[GroupSpec, ...] = ()


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
    # The precedence step that decided (0-6), the market or group code whose rule or position
    # it was (the market's own code for its default; "" for rights), and whether a binding
    # rule decided.
    step: int = STEP_DEFAULT
    source: str = ""
    binding: bool = False


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


def _rule_decision(rule: RuleSpec, source: str, own: bool) -> Decision:
    note = f" ({rule.note})" if rule.note else ""
    where = "" if own else f"group {source} "
    if rule.action == HIDE:
        flag = " (binding)" if rule.binding else ""
        return Decision(
            visible=False,
            state=HIDDEN,
            decided_by=BY_RULE,
            rule_id=rule.id,
            reason=f"Hidden by {where}rule #{rule.id}{flag}: {_criteria_text(rule)}{note}",
            step=STEP_BINDING_RULE if rule.binding else STEP_HIDE_RULE,
            source=source,
            binding=rule.binding,
        )
    return Decision(
        visible=True,
        state=PROMOTED,
        decided_by=BY_RULE,
        boost=rule.boost,
        rule_id=rule.id,
        reason=(f"Promoted by {where}rule #{rule.id} with boost {rule.boost}: {_criteria_text(rule)}{note}"),
        step=STEP_PROMOTE_RULE,
        source=source,
    )


def _position_by(position: PositionSpec) -> str:
    who = [position.author] if position.author else []
    if position.reason:
        who.append(f"'{position.reason}'")
    return f" ({', '.join(who)})" if who else ""


def _day(value: datetime) -> str:
    # Licences start and end on dates; a time of day is named only when there is one.
    utc = value.astimezone(UTC)
    if (utc.hour, utc.minute, utc.second, utc.microsecond) == (0, 0, 0, 0):
        return utc.date().isoformat()
    return utc.strftime("%Y-%m-%d %H:%M UTC")


# Between group positions of equal priority: hidden beats shown beats promoted.
_GROUP_STATE_ORDER: Final = {HIDDEN: 0, SHOWN: 1, PROMOTED: 2}


# What a resolver memoises per (content type, source): the rank decided by the rules that need
# no tag, the best rank per tag among the tag rules that also fit this type and source (only
# ranks that beat the tagless one are kept), and the isdisjoint() of the set of those tags, so
# that an item with no relevant tag costs one C-level call rather than a loop over its tags.
_Context = tuple[int, dict[str, int], Callable[[Iterable[str]], bool]]
_Bucket = Callable[[Resolved], None]


class MarketResolver:
    """The rules of one market and of its groups, pre-indexed for one evaluation time `at`."""

    __slots__ = (
        "_binding_count",
        "_contexts",
        "_decisions",
        "_group_priority",
        "_rules",
        "_sources",
        "at",
        "groups",
        "market",
    )

    def __init__(self, market: MarketSpec, at: datetime) -> None:
        """Index the rules of the market and its groups active at `at`; ValueError on invalid specs."""
        _require_aware(at, "at")
        if market.default_visibility not in (VISIBLE, OPT_IN):
            raise ValueError(
                f"market {market.code!r}: unknown default_visibility "
                f"{market.default_visibility!r} (expected {VISIBLE!r} or {OPT_IN!r})"
            )
        groups = tuple(sorted(market.groups, key=lambda group: (group.priority, group.code)))
        codes = [group.code for group in groups]
        if len(set(codes)) != len(codes) or market.code in codes:
            raise ValueError(f"market {market.code!r}: a group is listed twice or named like the market")
        owned: list[tuple[RuleSpec, str]] = [(rule, market.code) for rule in market.rules]
        owned += [(rule, group.code) for group in groups for rule in group.rules]
        binding: list[tuple[RuleSpec, str]] = []
        hides: list[tuple[RuleSpec, str]] = []
        promotes: list[tuple[RuleSpec, str]] = []
        for rule, source in owned:
            if rule.action not in (HIDE, PROMOTE):
                raise ValueError(f"rule #{rule.id}: unknown action {rule.action!r}")
            if rule.binding and rule.action != HIDE:
                raise ValueError(f"rule #{rule.id}: only hide rules can be binding")
            # Checked for every rule, not only active ones, so a bad row fails loudly today
            # rather than on the day its window opens.
            active = window_contains(rule.starts_at, rule.ends_at, at)
            # A rule naming no criterion matches nothing (validation elsewhere forbids it).
            if active and (rule.tags or rule.content_types or rule.sources):
                if rule.action == PROMOTE:
                    promotes.append((rule, source))
                else:
                    (binding if rule.binding else hides).append((rule, source))

        def by_id(entry: tuple[RuleSpec, str]) -> tuple[tuple[int, int, str], bool, str]:
            # On equal ids (rules of different owners) the market's own rule comes first.
            return (_rule_order_key(entry[0].id), entry[1] != market.code, entry[1])

        binding.sort(key=by_id)
        hides.sort(key=by_id)
        promotes.sort(key=lambda entry: (-entry[0].boost, *by_id(entry)))
        # Rules ranked by precedence: binding hides (step 1), then the other hides (step 4),
        # then promotes by boost (step 5). The deciding rule is simply the matching rule of
        # smallest rank, and the market default sits at rank len(rules). Item positions (steps
        # 2 and 3) sit between the binding hides and the others: see decide().
        ranked = (*binding, *hides, *promotes)
        self._rules: tuple[RuleSpec, ...] = tuple(rule for rule, _ in ranked)
        self._sources: tuple[str, ...] = tuple(source for _, source in ranked)
        self._binding_count = len(binding)
        if market.default_visibility == VISIBLE:
            default = Decision(
                True, VISIBLE, BY_DEFAULT, reason=VISIBLE_BY_DEFAULT_REASON, source=market.code
            )
        else:
            default = Decision(False, HIDDEN, BY_DEFAULT, reason=OPT_IN_HIDDEN_REASON, source=market.code)
        # One shared immutable Decision per rule (and one default) instead of one per item.
        self._decisions: tuple[Decision, ...] = (
            *(_rule_decision(rule, source, source == market.code) for rule, source in ranked),
            default,
        )
        self._contexts: dict[str, dict[str, _Context]] = {}
        self._group_priority = {group.code: group.priority for group in groups}
        self.groups = groups
        self.market = market
        self.at = at

    @property
    def active_rules(self) -> tuple[RuleSpec, ...]:
        """Return the active rules of the market and its groups in precedence order.

        Binding hides by id, then the other hides by id, then promotes by boost and id.
        """
        return self._rules

    @property
    def active_rule_sources(self) -> tuple[str, ...]:
        """Return the owner (market or group code) of each rule in `active_rules`."""
        return self._sources

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

    def _rights_decision(self, rights: Rights) -> Decision | None:
        code = self.market.code
        if rights.licensed(code, self.at):
            return None
        if (rights.allow and code not in rights.allow) or code in rights.deny:
            reason = f"Not licensed in {code}"
        elif rights.starts_at is not None and self.at < rights.starts_at:
            reason = f"Not licensed in {code} until {_day(rights.starts_at)}"
        else:
            assert rights.ends_at is not None  # the window excluded `at` at one of its ends
            reason = f"Not licensed in {code} since {_day(rights.ends_at)}"
        return Decision(False, HIDDEN, BY_RIGHTS, reason=reason, step=STEP_RIGHTS)

    def _active_state(self, candidate: Candidate, position: PositionSpec) -> str | None:
        if position.content_id != candidate.content_id:
            raise ValueError(
                f"position for {position.content_id!r} given for candidate {candidate.content_id!r}"
            )
        state = position.state
        if state not in POSITION_STATES:
            raise ValueError(f"position {position.content_id!r}: unknown state {state!r}")
        if not window_contains(position.starts_at, position.ends_at, self.at) or state == DEFAULT:
            return None
        return state

    def _by_position(self, candidate: Candidate, position: PositionSpec) -> Decision | None:
        state = self._active_state(candidate, position)
        if state is None:
            return None
        by = _position_by(position)
        code = self.market.code
        if state == HIDDEN:
            return Decision(
                False, HIDDEN, BY_POSITION, reason=f"Hidden by position{by}", step=STEP_POSITION, source=code
            )
        if state == SHOWN:
            return Decision(
                True, SHOWN, BY_POSITION, reason=f"Shown by position{by}", step=STEP_POSITION, source=code
            )
        if state == PROMOTED:
            boost = position.boost
            reason = f"Promoted by position with boost {boost}{by}"
            return Decision(
                True, PROMOTED, BY_POSITION, boost=boost, reason=reason, step=STEP_POSITION, source=code
            )
        slot = position.slot
        if slot is None or slot < 1:
            raise ValueError(f"position {position.content_id!r}: pinned needs a slot >= 1")
        reason = f"Pinned by position at slot {slot}{by}"
        return Decision(True, PINNED, BY_POSITION, slot=slot, reason=reason, step=STEP_POSITION, source=code)

    def _by_group_positions(
        self, candidate: Candidate, group_positions: Mapping[str, PositionSpec]
    ) -> Decision | None:
        best: tuple[int, int, int, str] | None = None
        chosen: PositionSpec | None = None
        for code, position in group_positions.items():
            priority = self._group_priority.get(code)
            if priority is None:
                continue  # a group this market is not in has no say here
            state = self._active_state(candidate, position)
            if state == PINNED:
                raise ValueError(f"group {code!r} position {position.content_id!r}: groups cannot pin")
            if state is None:
                continue
            key = (priority, _GROUP_STATE_ORDER[state], -position.boost, code)
            if best is None or key < best:
                best, chosen = key, position
        if best is None or chosen is None:
            return None
        code = best[3]
        by = _position_by(chosen)
        if chosen.state == HIDDEN:
            reason = f"Hidden by group {code} position{by}"
            return Decision(
                False, HIDDEN, BY_GROUP_POSITION, reason=reason, step=STEP_GROUP_POSITION, source=code
            )
        if chosen.state == SHOWN:
            reason = f"Shown by group {code} position{by}"
            return Decision(
                True, SHOWN, BY_GROUP_POSITION, reason=reason, step=STEP_GROUP_POSITION, source=code
            )
        boost = chosen.boost
        reason = f"Promoted by group {code} position with boost {boost}{by}"
        return Decision(
            True,
            PROMOTED,
            BY_GROUP_POSITION,
            boost=boost,
            reason=reason,
            step=STEP_GROUP_POSITION,
            source=code,
        )

    def decide(
        self,
        candidate: Candidate,
        position: PositionSpec | None,
        group_positions: Mapping[str, PositionSpec] | None = None,
    ) -> Decision:
        """Decide one item at `at`; raises ValueError on naive datetimes or invalid positions.

        `group_positions` maps a group's code to that group's position for this item; groups
        the market is not in are ignored.
        """
        by_position = None if position is None else self._by_position(candidate, position)
        by_group = None if not group_positions else self._by_group_positions(candidate, group_positions)
        rights = candidate.rights
        if rights is not None and (refused := self._rights_decision(rights)) is not None:
            return refused
        rank = self._rank(candidate)
        if rank < self._binding_count:
            return self._decisions[rank]
        if by_position is not None:
            return by_position
        if by_group is not None:
            return by_group
        return self._decisions[rank]

    def resolve_feed(
        self,
        candidates: Sequence[Candidate],
        positions: Mapping[str, PositionSpec],
        *,
        group_positions: Mapping[str, Mapping[str, PositionSpec]] | None = None,
        include_hidden: bool = False,
    ) -> list[Resolved]:
        """Order the visible candidates (then the hidden ones if asked); raises like decide().

        `group_positions` maps a group's code to its positions by content id.
        """
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

        # The groups' positions regrouped by item, once per feed (only this market's groups).
        group_by_item: dict[str, dict[str, PositionSpec]] = {}
        for code, by_item in (group_positions or {}).items():
            if code in self._group_priority:
                for content_id, spec in by_item.items():
                    group_by_item.setdefault(content_id, {})[code] = spec

        # The items with a position of the market or of a group: one membership test per item.
        decided_slowly: Container[str] = (
            positions.keys() | group_by_item.keys() if group_by_item else positions
        )
        decisions = self._decisions
        bucket_of_rank = [bucket_for(decision) for decision in decisions]
        decide_one = self.decide
        contexts = self._contexts
        new_context = self._context
        new_resolved, set_candidate, set_decision = _NEW_RESOLVED, _SET_CANDIDATE, _SET_DECISION
        # The hot path of every feed (see bench/resolver.py): _rank() is inlined and names are
        # bound to locals once, because a Python call or attribute lookup per item costs about
        # as much as the work itself. Items with rights or a position take decide().
        for candidate in candidates:
            bucket: _Bucket | None
            # `in` then a subscript for the few items with a position: cheaper than a .get() call
            # for every item.
            key = candidate.content_id
            if key in decided_slowly or candidate.rights is not None:
                decision = decide_one(
                    candidate,
                    positions.get(key),
                    group_by_item.get(key),
                )
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
    group_positions: Mapping[str, PositionSpec] | None = None,
) -> Decision:
    """Decide one item in one market at `at`; raises ValueError on invalid specs."""
    return MarketResolver(market, at).decide(candidate, position, group_positions)


def resolve_feed(
    market: MarketSpec,
    candidates: Sequence[Candidate],
    positions: Mapping[str, PositionSpec],
    at: datetime,
    *,
    group_positions: Mapping[str, Mapping[str, PositionSpec]] | None = None,
    include_hidden: bool = False,
) -> list[Resolved]:
    """Resolve and order a market's feed at `at`; raises ValueError on invalid specs."""
    resolver = MarketResolver(market, at)
    return resolver.resolve_feed(
        candidates, positions, group_positions=group_positions, include_hidden=include_hidden
    )
