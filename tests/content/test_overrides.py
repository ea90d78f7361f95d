"""positions_overridden: what rights and binding rules keep hidden, decided by the one resolver,
in a bounded number of queries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from content.selectors import Override, positions_overridden
from markets.models import Market
from tests.factories import ContentItemFactory, MarketFactory, RuleFactory

pytestmark = pytest.mark.django_db
AT = datetime(2026, 6, 1, tzinfo=UTC)


def test_rights_and_binding_rules_are_counted_per_market_and_reason(
    de: Market, django_assert_max_num_queries: Any
) -> None:
    fr = MarketFactory(code="FR")
    rule = RuleFactory(market=de, action="hide", match_tags=["hunting"], binding=True)
    RuleFactory(market=fr, action="hide", match_tags=["ocean"])  # not binding: a show beats it
    items = [ContentItemFactory(tag_slugs=["hunting"]) for _ in range(3)]
    items += [ContentItemFactory(rights_deny=["FR"]) for _ in range(2)]
    items += [ContentItemFactory(rights_starts_at=datetime(2027, 1, 1, tzinfo=UTC))]
    items += [ContentItemFactory(tag_slugs=["ocean"]) for _ in range(20)]
    ids = [i.pk for i in items]

    # Rules and the markets' groups (two queries), then per 1,000 items: the items and their tags
    with django_assert_max_num_queries(4):
        found = positions_overridden(markets=[de, fr], item_ids=ids, state="shown", at=AT)

    by_key = {(o.market_code, o.reason): o.count for o in found}
    assert by_key == {
        ("DE", f"binding rule DE #{rule.pk}"): 3,
        ("DE", "not licensed in DE until 2027-01-01"): 1,
        ("FR", "not licensed in FR"): 2,
        ("FR", "not licensed in FR until 2027-01-01"): 1,
    }
    assert all(isinstance(o, Override) and len(o.examples) <= 5 for o in found)
    # After the embargo it is only the binding rule and the denial
    later = positions_overridden(
        markets=[de, fr], item_ids=ids, state="promoted", at=datetime(2027, 2, 1, tzinfo=UTC)
    )
    assert {(o.market_code, o.count) for o in later} == {("DE", 3), ("FR", 2)}


@pytest.mark.parametrize("state", ["hidden", "default"])
def test_hiding_or_resetting_is_never_overridden(de: Market, state: str) -> None:
    item = ContentItemFactory(rights_deny=["DE"])
    assert positions_overridden(markets=[de], item_ids=[item.pk], state=state, at=AT) == []


def test_without_binding_rules_only_items_with_rights_are_read(de: Market) -> None:
    RuleFactory(market=de, action="hide", match_tags=["hunting"])
    plain = ContentItemFactory(tag_slugs=["hunting"])
    allowed_elsewhere = ContentItemFactory(rights_allow=["FR"])
    MarketFactory(code="FR")
    found = positions_overridden(
        markets=[de], item_ids=[plain.pk, allowed_elsewhere.pk], state="pinned", at=AT
    )
    assert found == [
        Override(
            market_code="DE", reason="not licensed in DE", count=1, examples=(allowed_elsewhere.upstream_id,)
        )
    ]
