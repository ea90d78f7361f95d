"""The demo: AU-OPTUS, DE and DACH rules need one approval; Ana's launch pins and Lukas's DACH rule
wait for Sam."""

from __future__ import annotations

from io import StringIO

from django.core.management import call_command
from django.utils import timezone

from accounts.models import User
from markets.models import Market, MarketGroup
from portal.change_requests.models import RequestState
from portal.change_requests.preview import request_preview
from portal.change_requests.selectors import waiting_for_review
from portal.change_requests.services import approvals_needed, group_approvals_needed, request_approve


def test_the_demo_request_waits_for_sam_previews_and_applies(db: None) -> None:
    call_command("demo_data", items=200, stdout=StringIO())
    optus, de = Market.objects.get(code="AU-OPTUS"), Market.objects.get(code="DE")
    assert approvals_needed(optus, rules=True) == 1 and approvals_needed(de, rules=True) == 1
    assert approvals_needed(de, positions=1) == 0
    sam = User.objects.get(username="admin")
    request, group_request = sorted(waiting_for_review(user=sam), key=lambda r: r.group_id is not None)
    assert request.title == "AU-OPTUS launch pins" and request.author.username == "au-manager"
    preview = request_preview(request, at=request.apply_at)
    assert preview.error == ""
    assert [c.change for c in preview.changes][:2] == ["appears", "appears"]
    assert request_approve(actor=sam, request=request).state == RequestState.APPROVED
    # DACH's rules need one approval: Lukas's group request waits for Sam, previewed in each member
    dach = MarketGroup.objects.get(code="DACH")
    assert group_approvals_needed(dach, rules=True) == 1
    assert group_request.group == dach and group_request.author.username == "de-manager"
    assert request_preview(group_request, at=timezone.now(), member=Market.objects.get(code="AT")).error == ""
    assert request_approve(actor=sam, request=group_request).state == RequestState.APPLIED
