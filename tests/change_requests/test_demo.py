"""The demo: AU-OPTUS and DE rules need one approval, and Ana's launch pins wait for Sam."""

from __future__ import annotations

from io import StringIO

from django.core.management import call_command

from accounts.models import User
from markets.models import Market
from portal.change_requests.models import RequestState
from portal.change_requests.preview import request_preview
from portal.change_requests.selectors import waiting_for_review
from portal.change_requests.services import approvals_needed, request_approve


def test_the_demo_request_waits_for_sam_previews_and_applies(db: None) -> None:
    call_command("demo_data", items=200, stdout=StringIO())
    optus, de = Market.objects.get(code="AU-OPTUS"), Market.objects.get(code="DE")
    assert approvals_needed(optus, rules=True) == 1 and approvals_needed(de, rules=True) == 1
    assert approvals_needed(de, positions=1) == 0
    sam = User.objects.get(username="admin")
    [request] = waiting_for_review(user=sam)
    assert request.title == "AU-OPTUS launch pins" and request.author.username == "au-manager"
    preview = request_preview(request, at=request.apply_at)
    assert preview.error == ""
    assert [c.change for c in preview.changes][:2] == ["appears", "appears"]
    assert request_approve(actor=sam, request=request).state == RequestState.APPROVED
