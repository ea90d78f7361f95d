"""The reference feed behind `require_partner_key` (applied outermost in portal/shared_tables/feed.py),
on real published shared tables."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from accounts.partners.models import UsagePlan
from accounts.partners.services import IssuedKey, key_suspend
from content.services import ContentRow, content_upsert_bulk
from markets.services import market_create
from portal.shared_tables import config, feed
from portal.shared_tables.publisher import drain

AT = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


@pytest.fixture
def published_au(settings: Any, tmp_path: Path, db: None) -> Iterator[None]:
    """AU and three items published to a fresh local shared-tables file."""
    settings.SHARED_TABLES_BACKEND = "local"
    settings.SHARED_TABLES_LOCAL_PATH = tmp_path / "shared_tables.sqlite3"
    settings.SHARED_TABLES_PREFIX = f"t{uuid.uuid4().hex[:8]}-"
    settings.SHARED_TABLES_PUBLISH_ON_COMMIT = False
    config.forget()
    config.shared_tables()
    market_create(actor=None, code="AU", name="Australia", languages=["en"], timezone="Australia/Sydney")
    content_upsert_bulk(
        actor=None,
        rows=[
            ContentRow(
                upstream_id=f"c-{n}",
                content_type="article",
                title=f"Story {n}",
                source="natgeo-editorial",
                language="en",
                published_at=AT - timedelta(hours=n + 1),
            )
            for n in range(3)
        ],
    )
    drain()
    config.shared_tables_reader().clear_cache()
    yield
    config.forget()


@pytest.fixture
def protected_feed() -> Callable[..., HttpResponse]:
    """The routed feed view itself: portal/shared_tables/feed.py applies `require_partner_key` outermost."""
    return feed.feed


def get(view: Callable[..., HttpResponse], secret: str | None, market: str = "AU") -> HttpResponse:
    headers = {"x-api-key": secret} if secret else {}
    request = RequestFactory().get(f"/feed/v1/{market}", {"at": AT.isoformat()}, headers=headers)
    return view(request, market=market)


def test_the_feed_answers_partners_with_a_key_and_refuses_others(
    published_au: None,
    protected_feed: Callable[..., HttpResponse],
    issue: Callable[..., IssuedKey],
    make_plan: Callable[..., UsagePlan],
    time_machine: Any,
) -> None:
    # Given a key with 2 requests a day on the deployment's stage
    plan = make_plan(name="Feed", rate_limit=10, burst_limit=10, quota_limit=2, quota_period="DAY")
    issued = issue(plan=plan)
    time_machine.move_to(AT, tick=False)

    # Then without a key the feed refuses before doing any work; with one it serves the feed
    assert get(protected_feed, None).status_code == 403
    answer = get(protected_feed, issued.secret)
    assert answer.status_code == 200
    assert [i["content_id"] for i in json.loads(answer.content)["items"]] == ["c-0", "c-1", "c-2"]
    assert answer["X-RateLimit-Quota-Remaining"] == "1"
    # The feed's own answers still come through (404 for an unpublished market) and count
    assert get(protected_feed, issued.secret, market="NZ").status_code == 404
    over = get(protected_feed, issued.secret)
    assert (over.status_code, over["X-RateLimit-Reason"]) == (429, "quota")
    key_suspend(actor=None, key=issued.key)
    assert get(protected_feed, issued.secret).status_code == 403
