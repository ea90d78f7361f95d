"""The revert pages: the Revert buttons in the log, the confirmation, the result; refusals."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from accounts.models import User
from content.models import Position
from content.services import PositionChange, position_set, positions_bulk_set
from markets.models import Market
from portal.audit.models import AuditEntry
from tests.factories import ContentItemFactory, TagFactory

pytestmark = pytest.mark.django_db


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_log_offers_revert_for_entries_and_for_a_bulk_change(editor: User, au: Market) -> None:
    items = ContentItemFactory.create_batch(2)
    result = positions_bulk_set(
        actor=editor, markets=[au], item_ids=[i.pk for i in items], change=PositionChange(state="hidden")
    )
    entry = AuditEntry.objects.first()
    assert entry is not None
    page = _client(editor).get(f"/audit/?batch={result.batch}").content.decode()
    assert f"/audit/batches/{result.batch}/revert/" in page
    assert f"/audit/{entry.pk}/revert/" in page


def test_the_confirmation_lists_what_changes_and_what_is_skipped_then_reverting_does_it(
    editor: User, au: Market, django_assert_max_num_queries: Any
) -> None:
    items = ContentItemFactory.create_batch(3)
    result = positions_bulk_set(
        actor=editor, markets=[au], item_ids=[i.pk for i in items], change=PositionChange(state="hidden")
    )
    position_set(actor=editor, market=au, item=items[0], change=PositionChange(state="promoted", boost=4))
    client = _client(editor)
    with django_assert_max_num_queries(25):
        page = client.get(f"/audit/batches/{result.batch}/revert/").content.decode()
    assert "2 changes will be reverted" in page
    assert "1 changed since" in page and 'name="force"' in page
    done = client.post(f"/audit/batches/{result.batch}/revert/").content.decode()
    assert "2 changes reverted, 1 skipped, 0 refused" in done
    assert Position.objects.get(item=items[0]).state == "promoted"


def test_a_user_without_the_audit_log_is_refused_and_outsiders_get_404(
    editor: User, reviewer: User, au_editor: User, de: Market
) -> None:
    item = ContentItemFactory()
    position_set(actor=editor, market=de, item=item, change=PositionChange(state="hidden"))
    entry = AuditEntry.objects.get()
    assert _client(reviewer).post(f"/audit/{entry.pk}/revert/").status_code == 403
    assert _client(au_editor).post(f"/audit/{entry.pk}/revert/").status_code == 404
    assert Position.objects.get().state == "hidden"


def test_rule_and_settings_entries_show_what_they_go_back_to(admin_user: User, au: Market) -> None:
    from datetime import UTC, datetime, timedelta

    from markets.models import Rule
    from markets.services import market_update, rule_create, rule_update

    TagFactory(slug="ocean")
    rule = rule_create(actor=admin_user, market=au, action="promote", match_tags=["ocean"], boost=2)
    rule_update(actor=admin_user, rule=rule, boost=5, ends_at=datetime.now(UTC) + timedelta(days=3))
    market_update(actor=admin_user, market=au, name="Australia (main)")
    client = _client(admin_user)
    update = AuditEntry.objects.get(action="rule.update")
    page = client.get(f"/audit/{update.pk}/revert/").content.decode()
    assert "1 change will be reverted" in page and "Goes back to" in page and "boost" in page
    settings = AuditEntry.objects.get(action="market.update")
    page = client.get(f"/audit/{settings.pk}/revert/").content.decode()
    assert "Australia" in page
    client.post(f"/audit/{update.pk}/revert/")
    client.post(f"/audit/{settings.pk}/revert/")
    rule = Rule.objects.get()
    au.refresh_from_db()
    assert (rule.boost, rule.ends_at, au.name) == (2, None, "Australia")
