"""Writes for markets and their rules. Each service checks access, then writes the change, its
audit entry and its outbox row in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.access import AccessDenied, Action, can, require, require_active
from accounts.models import User
from markets.models import GroupRule, Market, MarketGroup, Rule, RuleAction, Visibility
from markets.vocabulary import ContentType, known_tags
from portal.audit.services import AuditRecord, audit_bulk, audit_record, snapshot
from portal.errors import Conflict
from portal.shared_tables.models import OutboxKind
from portal.shared_tables.outbox import outbox_enqueue
from positioning.items import market_item, rule_entry
from positioning.tables import MAX_ITEM_BYTES, item_size

MARKET_FIELDS = ("code", "name", "languages", "timezone", "default_visibility", "active")
RULE_FIELDS = (
    "action",
    "boost",
    "match_tags",
    "match_content_types",
    "match_sources",
    "starts_at",
    "ends_at",
    "note",
    "binding",
)
_UNSET: Any = object()


def _require_binding_right(actor: User | None, market: Market) -> None:
    """Raise AccessDenied unless `actor` may mark rules of `market` binding or clear that."""
    if actor is not None and not can(actor, Action.SET_BINDING_RULES, market):
        raise AccessDenied(Action.SET_BINDING_RULES, market.code)


def _bump_market(market: Market) -> None:
    """Give the market (its shared item) a new version and queue it for publishing."""
    market.version += 1
    market.save(update_fields=["version", "updated_at"])
    outbox_enqueue(kind=OutboxKind.MARKET, key=market.code, version=market.version)


def _lock_market(market: Market) -> Market:
    return Market.objects.select_for_update().get(pk=market.pk)


def _distinct(values: Sequence[str]) -> list[str]:
    """The values once each, in order (a language listed twice is listed once)."""
    return list(dict.fromkeys(v.strip() if isinstance(v, str) else v for v in values))


def _check_item_size(market: Market) -> None:
    """Raise ValidationError when the market's shared item (settings and rules) would pass 400 KB."""
    if size_error := market_item_size_error(market):
        raise ValidationError({"__all__": [size_error]})


def _check_version(kind: str, stored: int, expected: int | None, current: dict[str, Any]) -> None:
    if expected is not None and expected != stored:
        raise Conflict(
            f"This {kind} was changed by someone else meanwhile (version {stored}, you edited "
            f"version {expected}). Review the current values and try again.",
            current=current,
        )


def _market_code_errors(code: str) -> dict[str, list[str]]:
    """Field errors for a new market's code: taken by another market or by a market group."""
    if Market.objects.filter(code=code).exists():
        return {"code": [f"There is already a market {code}: choose another code."]}
    if MarketGroup.objects.filter(code=code).exists():
        return {"code": [f"{code} is a market group's code; choose another code."]}
    return {}


def market_create(
    *,
    actor: User | None,
    code: str,
    name: str,
    languages: Sequence[str] | None = None,
    timezone: str | None = None,
    default_visibility: str | None = None,
    copy_rules_from: Market | None = None,
    via: str = "portal",
) -> Market:
    """Create a market or partner edition (active), optionally starting from another market.

    With `copy_rules_from`, every rule of that market is copied as a new rule of the new one (new
    ids, version 1, audited as `rule.copy` naming the source rule), and the languages, time zone
    and default visibility not given are taken from it too. Raises AccessDenied unless `actor` is
    an admin (manages markets); ValidationError with field errors on a bad or taken code, bad
    languages or time zone, or a market item that would pass DynamoDB's 400 KB.
    """
    if actor is not None:
        require(actor, Action.MANAGE_MARKETS)
    source = copy_rules_from
    if languages is None:
        languages = list(source.languages) if source is not None else []
    if timezone is None:
        timezone = source.timezone if source is not None else "UTC"
    if default_visibility is None:
        default_visibility = source.default_visibility if source is not None else Visibility.VISIBLE
    market = Market(
        code=code.strip().upper(),
        name=name.strip(),
        languages=_distinct(languages),
        timezone=timezone.strip(),
        default_visibility=default_visibility,
        active=True,
    )
    errors = _market_code_errors(market.code)
    if not market.languages:
        # The model would only say "This field cannot be blank."
        errors["languages"] = ["List at least one language, e.g. de or en."]
    try:
        market.full_clean(exclude=list(errors), validate_unique=False)
    except ValidationError as exc:
        for field, messages in exc.message_dict.items():
            errors.setdefault(field, []).extend(messages)
    if errors:
        raise ValidationError(errors)
    _check_item_size(market)
    try:
        with transaction.atomic():
            market.save()
            copied = _copy_rules(actor=actor, source=source, market=market, via=via) if source else 0
            # A copy also joins the source's groups: markets.groups.services.market_create_in_groups.
            after = snapshot(market, MARKET_FIELDS)
            if source is not None:
                after["copied_from"] = {"market": source.code, "rules": copied}
            audit_record(
                actor=actor,
                record=AuditRecord(
                    action="market.create",
                    object_type="market",
                    object_id=market.code,
                    object_repr=str(market),
                    market_code=market.code,
                    after=after,
                ),
                via=via,
            )
            outbox_enqueue(kind=OutboxKind.MARKET, key=market.code, version=market.version)
    except IntegrityError:
        # Another request created the same code between the check above and this insert.
        raise ValidationError(
            {"code": [f"There is already a market {market.code}: choose another code."]}
        ) from None
    return market


def _copy_rules(*, actor: User | None, source: Market, market: Market, via: str) -> int:
    """Copy every rule of `source` into the new `market` (one audit batch); return how many.

    Raises ValidationError when the copied rules would not fit the market's 400 KB item.
    """
    originals = list(Rule.objects.filter(market=source).order_by("id"))
    if not originals:
        return 0
    copies = [
        Rule(
            market=market,
            action=rule.action,
            boost=rule.boost,
            match_tags=list(rule.match_tags),
            match_content_types=list(rule.match_content_types),
            match_sources=list(rule.match_sources),
            starts_at=rule.starts_at,
            ends_at=rule.ends_at,
            note=rule.note,
            # A legal duty in the source market holds in its copy (an admin copies: they may set it).
            binding=rule.binding,
            author=actor,
        )
        for rule in originals
    ]
    # SQLite ≥ 3.35 and PostgreSQL return the new ids from one multi-row insert.
    Rule.objects.bulk_create(copies)
    _check_item_size(market)
    audit_bulk(
        actor=actor,
        records=[
            AuditRecord(
                action="rule.copy",
                object_type="rule",
                object_id=str(copy.pk),
                object_repr=f"{market.code}: {copy.action} {copy.match_summary} "
                f"(copy of {source.code} #{rule.pk})",
                market_code=market.code,
                after={
                    **snapshot(copy, RULE_FIELDS),
                    "copied_from": {"market": source.code, "rule": rule.pk},
                },
            )
            for copy, rule in zip(copies, originals, strict=True)
        ],
        via=via,
    )
    return len(copies)


def _market_active_set(
    *, actor: User | None, market: Market, active: bool, expected_version: int | None, via: str
) -> Market:
    if actor is not None:
        require(actor, Action.MANAGE_MARKETS)
    with transaction.atomic():
        locked = _lock_market(market)
        before = snapshot(locked, MARKET_FIELDS)
        _check_version("market", locked.version, expected_version, before)
        if locked.active == active:
            return locked
        locked.active = active
        locked.save(update_fields=["active", "updated_at"])
        _bump_market(locked)
        audit_record(
            actor=actor,
            record=AuditRecord(
                action="market.activate" if active else "market.deactivate",
                object_type="market",
                object_id=locked.code,
                object_repr=str(locked),
                market_code=locked.code,
                before=before,
                after=snapshot(locked, MARKET_FIELDS),
            ),
            via=via,
        )
    market.refresh_from_db()
    return locked


def market_deactivate(
    *, actor: User | None, market: Market, expected_version: int | None = None, via: str = "portal"
) -> Market:
    """Deactivate a market: its item is republished with `active: false`; rules and positions stay.

    From then on every change in the market is refused (MarketInactive) until it is reactivated.
    Deactivating an inactive market changes nothing. Raises AccessDenied unless `actor` is an
    admin; Conflict when `expected_version` is stale.
    """
    return _market_active_set(
        actor=actor, market=market, active=False, expected_version=expected_version, via=via
    )


def market_activate(
    *, actor: User | None, market: Market, expected_version: int | None = None, via: str = "portal"
) -> Market:
    """Reactivate a market: its item is republished with `active: true` and changes are allowed again.

    Raises AccessDenied unless `actor` is an admin; Conflict when `expected_version` is stale.
    """
    return _market_active_set(
        actor=actor, market=market, active=True, expected_version=expected_version, via=via
    )


def market_update(
    *,
    actor: User | None,
    market: Market,
    name: str = _UNSET,
    languages: Sequence[str] = _UNSET,
    timezone: str = _UNSET,
    default_visibility: str = _UNSET,
    expected_version: int | None = None,
    via: str = "portal",
    reverts: int | None = None,
) -> Market:
    """Change a market's settings (only the arguments given; `reverts`: the entry this undoes);
    admins (de)activate markets with market_deactivate and market_activate.

    Raises AccessDenied unless `actor` may edit the market's settings; MarketInactive when the
    market is inactive; ValidationError on bad values; Conflict when `expected_version` is stale.
    """
    if actor is not None:
        require(actor, Action.EDIT_MARKET_SETTINGS, market)
    require_active(market, Action.EDIT_MARKET_SETTINGS)
    changes = {
        "name": name,
        "languages": _distinct(languages) if languages is not _UNSET else _UNSET,
        "timezone": timezone,
        "default_visibility": default_visibility,
    }
    changes = {k: v for k, v in changes.items() if v is not _UNSET}
    with transaction.atomic():
        locked = _lock_market(market)
        require_active(locked, Action.EDIT_MARKET_SETTINGS)
        before = snapshot(locked, MARKET_FIELDS)
        _check_version("market", locked.version, expected_version, before)
        for field, value in changes.items():
            setattr(locked, field, value.strip() if isinstance(value, str) else value)
        locked.full_clean()
        _check_item_size(locked)
        after = snapshot(locked, MARKET_FIELDS)
        if after == before:
            return locked
        locked.save()
        _bump_market(locked)
        audit_record(
            actor=actor,
            record=AuditRecord(
                action="market.update",
                object_type="market",
                object_id=locked.code,
                object_repr=str(locked),
                market_code=locked.code,
                before=before,
                after=after,
                reverts=reverts,
            ),
            via=via,
        )
    market.refresh_from_db()
    return locked


def _clean_list(values: Sequence[str] | None) -> list[str]:
    return sorted({v.strip() for v in values or () if v and v.strip()})


def _identical_rule(rule: Rule) -> Rule | None:
    """Return another rule of the market with the same action, boost, match and window, if any."""
    fields = (
        "action",
        "boost",
        "match_tags",
        "match_content_types",
        "match_sources",
        "starts_at",
        "ends_at",
        "binding",
    )
    wanted = tuple(getattr(rule, f) for f in fields)
    others = Rule.objects.filter(market_id=rule.market_id, action=rule.action).exclude(pk=rule.pk)
    return next((o for o in others if tuple(getattr(o, f) for f in fields) == wanted), None)


def rule_field_errors(rule: Rule | GroupRule, *, check_past: bool = True) -> dict[str, list[str]]:
    """Return what is wrong with a market's or a group's rule, field by field (empty when fine)."""
    errors: dict[str, list[str]] = {}
    if not (rule.match_tags or rule.match_content_types or rule.match_sources):
        errors.setdefault("match", []).append(
            "Name at least one tag, content type or source for the rule to match."
        )
    unknown_types = set(rule.match_content_types) - set(ContentType.values)
    if unknown_types:
        errors.setdefault("match_content_types", []).append(
            f"Unknown content type(s): {', '.join(sorted(unknown_types))}. "
            f"Choose from {', '.join(ContentType.values)}."
        )
    if rule.match_tags:
        known = known_tags(rule.match_tags)
        unknown = sorted(set(rule.match_tags) - known)
        if unknown:
            errors.setdefault("match_tags", []).append(f"Unknown tag(s): {', '.join(unknown)}.")
    if rule.action == RuleAction.PROMOTE and rule.boost < 1:
        errors.setdefault("boost", []).append("A promote rule needs a boost of at least 1.")
    if rule.action == RuleAction.HIDE and rule.boost:
        errors.setdefault("boost", []).append("A hide rule has no boost.")
    if rule.binding and rule.action != RuleAction.HIDE:
        errors.setdefault("binding", []).append(
            "Only hide rules can be binding; a promote rule never overrides editors' positions."
        )
    if rule.starts_at and rule.ends_at and rule.starts_at >= rule.ends_at:
        errors.setdefault("ends_at", []).append("The window must end after it starts.")
    elif check_past and rule.ends_at and rule.ends_at <= datetime.now(UTC):
        errors.setdefault("ends_at", []).append(
            "This window is entirely in the past; give an end in the future, or none."
        )
    try:
        # The checks above say what is wrong in editors' words; the database constraints
        # (rule_window_ordered, rule_binding_hides_only) would only repeat them as
        # "Constraint … is violated".
        owner = "market" if isinstance(rule, Rule) else "group"
        rule.full_clean(exclude=[owner, "author"], validate_constraints=False)
    except ValidationError as exc:
        for field, messages in exc.message_dict.items():
            errors.setdefault(field, []).extend(messages)
    return errors


def _validate_rule(rule: Rule, *, check_past: bool = True) -> None:
    errors = rule_field_errors(rule, check_past=check_past)
    if not errors and (twin := _identical_rule(rule)) is not None:
        errors.setdefault("__all__", []).append(
            f"Rule #{twin.pk} in {rule.market.code} already does exactly this; edit that rule instead."
        )
    # All of a market's rules live in its one shared-table item, which DynamoDB caps at 400 KB.
    if not errors and (size_error := market_item_size_error(rule.market, extra_rule=rule)):
        errors.setdefault("__all__", []).append(size_error)
    if errors:
        raise ValidationError(errors)


def _binding_action(before: dict[str, Any] | None, rule: Rule) -> str | None:
    """ "rule.binding_set" / "rule.binding_clear" when the change flips the rule's binding flag."""
    was = bool(before and before.get("binding"))
    if was == rule.binding:
        return None
    return "rule.binding_set" if rule.binding else "rule.binding_clear"


def _rule_audit(
    action: str, rule: Rule, before: dict[str, Any] | None, reverts: int | None = None
) -> AuditRecord:
    # The version rides along so that a revert can tell whether the rule changed since.
    return AuditRecord(
        action=action,
        object_type="rule",
        object_id=str(rule.pk),
        object_repr=f"{rule.market.code}: {rule.action} {rule.match_summary}",
        market_code=rule.market.code,
        before=before,
        after={**snapshot(rule, RULE_FIELDS), "version": rule.version} if action != "rule.delete" else None,
        reverts=reverts,
    )


def rule_create(
    *,
    actor: User | None,
    market: Market,
    action: str,
    match_tags: Sequence[str] | None = None,
    match_content_types: Sequence[str] | None = None,
    match_sources: Sequence[str] | None = None,
    boost: int = 0,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    note: str = "",
    binding: bool = False,
    via: str = "portal",
    reverts: int | None = None,
) -> Rule:
    """Add a hide or promote rule to a market (a hide rule may be `binding`; `reverts`: the audit
    entry this undoes, if any).

    Raises AccessDenied unless `actor` may edit the market's rules (and, for a binding rule,
    set binding rules there); ValidationError on an empty match, unknown tags or types, a bad
    boost, a reversed window or a binding promote rule.
    """
    if actor is not None:
        require(actor, Action.EDIT_RULES, market)
    if binding:
        _require_binding_right(actor, market)
    require_active(market, Action.EDIT_RULES)
    rule = Rule(
        market=market,
        action=action,
        boost=boost,
        match_tags=_clean_list(match_tags),
        match_content_types=_clean_list(match_content_types),
        match_sources=_clean_list(match_sources),
        starts_at=starts_at,
        ends_at=ends_at,
        note=note.strip(),
        binding=bool(binding),
        author=actor,
    )
    _validate_rule(rule)
    with transaction.atomic():
        locked = _lock_market(market)
        require_active(locked, Action.EDIT_RULES)
        rule.market = locked
        rule.save()
        _bump_market(locked)
        audit_record(actor=actor, record=_rule_audit("rule.create", rule, None, reverts), via=via)
        if rule.binding:
            # Its own entry too, so "who made which rule binding" is one filter in the audit log.
            audit_record(actor=actor, record=_rule_audit("rule.binding_set", rule, None), via=via)
    return rule


def rule_update(
    *,
    actor: User | None,
    rule: Rule,
    expected_version: int | None = None,
    via: str = "portal",
    reverts: int | None = None,
    **changes: Any,
) -> Rule:
    """Change a rule's action, match, boost, window, note or binding flag (only the keywords given).

    Raises AccessDenied (as rule_create; changing a binding rule at all, or setting or clearing
    `binding`, needs the right to set binding rules), ValidationError (as rule_create), or
    Conflict on a stale version.
    """
    if actor is not None:
        require(actor, Action.EDIT_RULES, rule.market)
    require_active(rule.market, Action.EDIT_RULES)
    unknown = set(changes) - set(RULE_FIELDS)
    if unknown:
        raise ValidationError({field: "This field cannot be changed." for field in unknown})
    if "binding" in changes:
        changes["binding"] = bool(changes["binding"])
    with transaction.atomic():
        locked_market = _lock_market(rule.market)
        require_active(locked_market, Action.EDIT_RULES)
        current = Rule.objects.select_for_update().get(pk=rule.pk)
        current.market = locked_market
        fields_before = snapshot(current, RULE_FIELDS)
        before = {**fields_before, "version": current.version}
        _check_version("rule", current.version, expected_version, before)
        if current.binding or changes.get("binding", current.binding) != current.binding:
            # A binding rule is a legal duty: only those who may set binding may change or clear it.
            _require_binding_right(actor, locked_market)
        old_window = (current.starts_at, current.ends_at)
        for field, value in changes.items():
            if field.startswith("match_"):
                value = _clean_list(value)
            elif field == "note":
                value = (value or "").strip()
            setattr(current, field, value)
        # An old rule's past window may stay as it is; only a window being set must be current.
        _validate_rule(current, check_past=(current.starts_at, current.ends_at) != old_window)
        if snapshot(current, RULE_FIELDS) == fields_before:
            return current
        current.version += 1
        current.author = actor if actor is not None else current.author
        current.save()
        _bump_market(locked_market)
        action = _binding_action(before, current) or "rule.update"
        audit_record(actor=actor, record=_rule_audit(action, current, before, reverts), via=via)
    return current


def rule_delete(
    *,
    actor: User | None,
    rule: Rule,
    expected_version: int | None = None,
    via: str = "portal",
    reverts: int | None = None,
) -> None:
    """Delete a rule; the market's shared item is republished without it.

    Raises AccessDenied unless `actor` may edit the market's rules (and, for a binding rule,
    set binding rules there); Conflict on a stale version.
    """
    if actor is not None:
        require(actor, Action.EDIT_RULES, rule.market)
    require_active(rule.market, Action.EDIT_RULES)
    with transaction.atomic():
        locked_market = _lock_market(rule.market)
        require_active(locked_market, Action.EDIT_RULES)
        current = Rule.objects.select_for_update().get(pk=rule.pk)
        current.market = locked_market
        before = {**snapshot(current, RULE_FIELDS), "version": current.version}
        _check_version("rule", current.version, expected_version, before)
        if current.binding:
            _require_binding_right(actor, locked_market)
        record = _rule_audit("rule.delete", current, before, reverts)
        current.delete()
        _bump_market(locked_market)
        audit_record(actor=actor, record=record, via=via)


def market_item_size_error(market: Market, extra_rule: Rule | None = None) -> str | None:
    """Return why `market`'s item (with `extra_rule` added or replaced) would exceed 400 KB, or None.

    DynamoDB refuses items over 400 KB, and a market's rules all live in its one item, so the
    rule services refuse a rule that would overflow it instead of the publisher failing later.
    """
    rules = list(Rule.objects.filter(market_id=market.pk).order_by("id")) if market.pk else []
    if extra_rule is not None:
        rules = [r for r in rules if extra_rule.pk is None or r.pk != extra_rule.pk] + [extra_rule]
    item = market_item(
        code=market.code,
        name=market.name,
        languages=market.languages,
        timezone=market.timezone,
        default_visibility=market.default_visibility,
        active=market.active,
        version=market.version + 1,
        updated_at=market.updated_at or datetime.now(UTC),
        rules=[
            rule_entry(
                # A rule not saved yet gets the widest id it could have.
                rule_id=rule.pk if rule.pk is not None else 2**63 - 1,
                action=rule.action,
                match_tags=rule.match_tags,
                match_content_types=rule.match_content_types,
                match_sources=rule.match_sources,
                boost=rule.boost,
                starts_at=rule.starts_at,
                ends_at=rule.ends_at,
                note=rule.note,
                binding=rule.binding,
            )
            for rule in rules
        ],
    )
    size = item_size(item)
    if size <= MAX_ITEM_BYTES:
        return None
    change = "With this rule" if extra_rule is not None else "With these settings"
    return (
        f"{change}, {market.code} would take {size / 1024:,.0f} KB in the shared tables, "
        f"over DynamoDB's limit of {MAX_ITEM_BYTES // 1024} KB per market. Remove rules you no longer "
        "need, or shorten long notes, language and tag lists."
    )


# --- positions -------------------------------------------------------------------------------
