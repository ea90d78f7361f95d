"""The demo data shows the schedule and the revert: upcoming windows and a bulk change to undo."""

from __future__ import annotations

import uuid

import pytest
from django.core.management import call_command

from accounts.models import User
from markets.models import Market
from portal.audit.models import AuditEntry
from portal.audit.revert.selectors import RevertTarget, revert_preview
from portal.schedule.selectors import EventKind, schedule_events, upcoming_span

pytestmark = pytest.mark.django_db


def test_the_demo_has_upcoming_windows_and_a_revertable_bulk_change() -> None:
    call_command("demo_data", items=300)
    call_command("demo_data", items=300, force=True)
    since, until = upcoming_span()
    events = schedule_events(markets=list(Market.objects.all()), since=since, until=until)
    kinds = {e.kind for e in events}
    assert {EventKind.POSITION, EventKind.EMBARGO, EventKind.RULE} <= kinds
    assert any(
        e.market_code == "AT" and e.title.startswith("Embargo lifts") and e.local.hour == 18 for e in events
    )
    au_starts = [
        e for e in events if e.market_code == "AU" and e.title.startswith("Promotion (boost 3) starts")
    ]
    assert au_starts and all(e.local.hour == 6 for e in au_starts)
    batch = (
        AuditEntry.objects.filter(actor_name="editor", batch__isnull=False)
        .values_list("batch", flat=True)
        .first()
    )
    assert batch is not None
    plan = revert_preview(
        user=User.objects.get(username="editor"), target=RevertTarget(batch=uuid.UUID(str(batch)))
    )
    assert len(plan.to_revert) == 40


def test_the_demo_has_group_and_rights_windows_and_a_revertable_group_bulk_change() -> None:
    from markets.models import MarketGroup

    call_command("demo_data", items=300)
    since, until = upcoming_span()
    dach = MarketGroup.objects.prefetch_related("member_links__market").get(code="DACH")
    members = [link.market for link in dach.member_links.all()]
    events = schedule_events(markets=members, groups=[dach], since=since, until=until)
    # DACH's own windows (UTC) and the live series' licence in its members (their local days)
    own = [e for e in events if e.is_group]
    assert any(e.title.startswith("Embargo starts") for e in own) and all(e.timezone == "UTC" for e in own)
    assert any(e.detail == "Alpine wildlife weekend" for e in own)
    rights = [e for e in events if e.kind == EventKind.RIGHTS and e.subject == "Alps live: the season opener"]
    assert {e.market_code for e in rights} == {"DE", "AT", "CH"} and {e.edge for e in rights} == {
        "starts",
        "ends",
    }
    # Lukas' bulk change in DACH can be reverted by him from the audit log
    lukas = User.objects.get(username="de-manager")
    batch = AuditEntry.objects.filter(actor_name="de-manager", object_type="group_position").values_list(
        "batch", flat=True
    )[0]
    plan = revert_preview(user=lukas, target=RevertTarget(batch=uuid.UUID(str(batch))))
    assert len(plan.to_revert) == 3
