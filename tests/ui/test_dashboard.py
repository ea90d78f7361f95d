"""The dashboard and its counts selector: current overrides and active rules per market."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import time_machine

from content.selectors import market_dashboard_counts
from markets.models import Market
from portal.audit.models import AuditEntry
from portal.shared_tables.models import OutboxEntry
from tests.factories import PositionFactory, RuleFactory
from tests.ui.conftest import login

NOW = datetime(2026, 3, 2, tzinfo=UTC)


def test_counts_only_what_is_in_effect_now(
    au: Market, de: Market, items: list, django_assert_num_queries
) -> None:
    PositionFactory(market=au, item=items[0], state="hidden")
    PositionFactory(market=au, item=items[1], state="hidden", ends_at=NOW - timedelta(hours=1))  # over
    PositionFactory(market=au, item=items[2], state="hidden", starts_at=NOW + timedelta(hours=1))  # later
    PositionFactory(market=au, item=items[3], state="promoted", boost=2)
    PositionFactory(market=au, item=items[4], state="pinned", slot=1)
    PositionFactory(market=au, item=items[5], state="default")
    PositionFactory(market=de, item=items[0], state="shown")
    RuleFactory(market=de, action="hide", match_tags=["hunting"])
    RuleFactory(market=de, action="hide", match_tags=["x"], ends_at=NOW - timedelta(days=1))
    with django_assert_num_queries(2):
        counts = {c.market.code: c for c in market_dashboard_counts(markets=[au, de], at=NOW)}
    assert (counts["AU"].hidden, counts["AU"].promoted, counts["AU"].pinned, counts["AU"].rules) == (
        1,
        1,
        1,
        0,
    )
    assert (counts["DE"].shown, counts["DE"].hidden, counts["DE"].rules) == (1, 0, 1)


def test_two_queries_whatever_the_number_of_markets(db: None, django_assert_num_queries) -> None:
    markets = [
        Market.objects.create(code=f"Q{chr(65 + n)}", name=str(n), languages=["en"]) for n in range(25)
    ]
    with django_assert_num_queries(2):
        assert len(market_dashboard_counts(markets=markets, at=NOW, all_markets=True)) == 25


@time_machine.travel(NOW, tick=False)
def test_the_dashboard_of_an_editor(editor, au: Market, de: Market, items: list) -> None:
    PositionFactory(market=au, item=items[0], state="hidden")
    AuditEntry.objects.create(
        actor=editor,
        actor_name="editor",
        action="position.set",
        market_code="AU",
        object_type="position",
        object_id="ng-000",
        object_repr="Story 0 in AU",
    )
    AuditEntry.objects.create(
        actor_name="someone",
        action="rule.create",
        market_code="DE",
        object_type="rule",
        object_id="1",
        object_repr="not mine",
    )
    html = login(editor).get("/").content.decode()
    assert "/content/?market=AU&state=hidden" in html.replace("&amp;", "&")
    assert "Story 0 in AU" in html and "not mine" not in html
    # No admin-only publishing panel, and nothing that does not exist yet
    assert "Publishing to the shared tables" not in html
    main = html.split("<main")[1].lower()
    assert "quota" not in main and "label review" not in main and "coming soon" not in main


def test_admins_see_real_publishing_failures(admin_user, au: Market) -> None:
    OutboxEntry.objects.create(kind="market", key="AU", version=1, status="dead")
    html = login(admin_user).get("/").content.decode()
    assert "Publishing to the shared tables" in html and "1 failed" in html


def test_reviewers_and_people_without_a_role_get_an_honest_dashboard(reviewer, nobody, au: Market) -> None:
    for user in (reviewer, nobody):
        html = login(user).get("/").content.decode()
        assert "Your markets now" not in html
        assert "Open the content board" not in html
    assert "no role yet" in login(nobody).get("/").content.decode()


def test_dashboard_queries_do_not_grow_with_markets(
    editor, items: list, django_assert_max_num_queries
) -> None:
    for n in range(30):
        Market.objects.create(code=f"Z{chr(65 + n % 26)}{n}", name=str(n), languages=["en"])
    client = login(editor)
    client.get("/")
    with django_assert_max_num_queries(9):
        client.get("/")
