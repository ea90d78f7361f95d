"""Per-market moderation policies: which unsafe categories block an image where."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.access import Action, require, require_active
from accounts.models import User
from content.labels.models import (
    LEGACY_MODERATION_CATEGORIES,
    MODERATION_CATEGORIES,
    MarketModerationPolicy,
    ModerationLabel,
)
from content.labels.services.base import _bump_and_publish, _percent
from content.labels.services.outcomes import _sync_blocks
from markets.models import Market
from portal.audit.services import AuditRecord, audit_record


def _images_with_category(category: str) -> list[int]:
    return sorted(
        set(ModerationLabel.objects.filter(top_category=category).values_list("image_id", flat=True))
    )


def moderation_policy_set(
    *,
    actor: User | None,
    market: Market,
    category: str,
    block_at: Any,
    via: str = "portal",
) -> MarketModerationPolicy:
    """Block images in `market` whose top-level `category` label reaches `block_at` percent.

    Images blocked or unblocked by the change get a new version. Raises AccessDenied unless
    `actor` may edit `market`'s settings; ValidationError on an empty category or a threshold
    outside 0–100.
    """
    if actor is not None:
        require(actor, Action.EDIT_MARKET_SETTINGS, market)
    require_active(market, Action.EDIT_MARKET_SETTINGS)
    errors: dict[str, str] = {}
    category = (category or "").strip()
    if not category:
        errors["category"] = "Name a top-level moderation category, e.g. Violence."
    else:
        known = {c.lower(): c for c in (*MODERATION_CATEGORIES, *LEGACY_MODERATION_CATEGORIES)}
        if category.lower() not in known:
            errors["category"] = (
                "Choose a top-level category of Rekognition's moderation taxonomy: "
                + ", ".join(MODERATION_CATEGORIES)
                + "."
            )
        else:
            category = known[category.lower()]
    threshold = _percent(block_at, "block_at", errors)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        Market.objects.select_for_update().filter(pk=market.pk).first()
        policy = MarketModerationPolicy.objects.filter(market=market, category__iexact=category).first()
        before = {"category": policy.category, "block_at": policy.block_at} if policy else None
        if policy is None:
            policy = MarketModerationPolicy(market=market, category=category)
        policy.block_at = threshold
        policy.save()
        changed = _sync_blocks(_images_with_category(policy.category), [market.pk])
        audit_record(
            actor=actor,
            record=AuditRecord(
                action="moderation.policy",
                object_type="market",
                object_id=market.code,
                object_repr=f"{market.code}: {policy.category}",
                market_code=market.code,
                before=before,
                after={"category": policy.category, "block_at": threshold, "images_changed": len(changed)},
            ),
            via=via,
        )
        _bump_and_publish(changed)
    return policy


def moderation_policy_add(
    *,
    actor: User | None,
    market: Market,
    category: str,
    block_at: Any,
    via: str = "portal",
) -> MarketModerationPolicy:
    """Add a policy for a category `market` does not moderate yet (moderation_policy_set changes one).

    Raises AccessDenied unless `actor` may edit `market`'s settings; ValidationError when the
    market already has a policy for the category, or as moderation_policy_set.
    """
    if actor is not None:
        require(actor, Action.EDIT_MARKET_SETTINGS, market)
    require_active(market, Action.EDIT_MARKET_SETTINGS)
    with transaction.atomic():
        # The market's row lock serialises two adds of the same category.
        Market.objects.select_for_update().filter(pk=market.pk).first()
        existing = MarketModerationPolicy.objects.filter(
            market=market, category__iexact=(category or "").strip()
        ).first()
        if existing is not None:
            raise ValidationError(
                {
                    "category": f"{market.code} already blocks {existing.category} at "
                    f"{existing.block_at:g}; change its threshold instead."
                }
            )
        return moderation_policy_set(
            actor=actor, market=market, category=category, block_at=block_at, via=via
        )


def moderation_policy_delete(
    *, actor: User | None, policy: MarketModerationPolicy, via: str = "portal"
) -> None:
    """Stop blocking `policy`'s category in its market; unblocked images get a new version.

    Raises AccessDenied unless `actor` may edit that market's settings.
    """
    market = policy.market
    if actor is not None:
        require(actor, Action.EDIT_MARKET_SETTINGS, market)
    require_active(market, Action.EDIT_MARKET_SETTINGS)
    with transaction.atomic():
        category, threshold = policy.category, policy.block_at
        policy.delete()
        changed = _sync_blocks(_images_with_category(category), [market.pk])
        audit_record(
            actor=actor,
            record=AuditRecord(
                action="moderation.policy_delete",
                object_type="market",
                object_id=market.code,
                object_repr=f"{market.code}: {category}",
                market_code=market.code,
                before={"category": category, "block_at": threshold},
                after={"images_changed": len(changed)},
            ),
            via=via,
        )
        _bump_and_publish(changed)
