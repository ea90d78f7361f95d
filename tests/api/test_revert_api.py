"""REST API: revert an audit entry or a bulk change, dry run and for real; refusals."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from content.models import ContentItem, Position
from content.services import PositionChange, position_set, positions_bulk_set
from markets.models import Market
from portal.audit.models import AuditEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def bulk(editor: User, au: Market, de: Market, items: list[ContentItem]) -> str:
    result = positions_bulk_set(
        actor=editor, markets=[au, de], item_ids=[i.pk for i in items], change=PositionChange(state="hidden")
    )
    return result.batch


def test_a_dry_run_lists_the_plan_and_writes_nothing(
    client_for: Callable[[str | None], APIClient],
    bulk: str,
    editor: User,
    au: Market,
    items: list[ContentItem],
) -> None:
    position_set(actor=editor, market=au, item=items[0], change=PositionChange(state="promoted", boost=1))
    count = AuditEntry.objects.count()
    response = client_for("editor").post(
        f"/api/v1/audit/batches/{bulk}/revert/", {"dry_run": True}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert len(body["will_revert"]) == 5 and len(body["changed_since"]) == 1
    assert body["changed_since"][0]["object_id"] == items[0].upstream_id
    assert body["needs_approval"] == []
    assert AuditEntry.objects.count() == count

    # And once AU reviews position changes, the dry run says the revert would be filed there
    from portal.change_requests.services import policy_set

    admin = User.objects.create_superuser("policy-admin", "pa@example.com", "x")
    policy_set(actor=admin, market=au, approvals_required=1, positions=True)
    body = (
        client_for("editor")
        .post(f"/api/v1/audit/batches/{bulk}/revert/", {"dry_run": True}, format="json")
        .json()
    )
    assert body["needs_approval"] == ["AU"]
    assert not AuditEntry.objects.filter(action__startswith="change_request.").exists()


def test_apply_with_force_reverts_everything(
    client_for: Callable[[str | None], APIClient],
    bulk: str,
    editor: User,
    au: Market,
    items: list[ContentItem],
) -> None:
    position_set(actor=editor, market=au, item=items[0], change=PositionChange(state="promoted", boost=1))
    forced = AuditEntry.objects.get(batch=bulk, market_code="AU", object_id=items[0].upstream_id).pk
    response = client_for("editor").post(
        f"/api/v1/audit/batches/{bulk}/revert/", {"force": [forced]}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["reverted"] == 6 and response.json()["skipped"] == []
    assert set(Position.objects.values_list("state", flat=True)) == {"default"}
    assert AuditEntry.objects.filter(via="api", reverts__isnull=False).count() == 6


def test_a_single_entry_is_reverted(
    client_for: Callable[[str | None], APIClient], editor: User, au: Market, items: list[ContentItem]
) -> None:
    position_set(actor=editor, market=au, item=items[0], change=PositionChange(state="hidden"))
    entry = AuditEntry.objects.get()
    response = client_for("editor").post(f"/api/v1/audit/entries/{entry.pk}/revert/", {}, format="json")
    assert response.status_code == 200 and response.json()["reverted"] == 1


@pytest.mark.parametrize(
    ("role", "status"), [(None, 401), ("reviewer", 403), ("nobody", 403), ("au_manager", 200)]
)
def test_refusals(
    client_for: Callable[[str | None], APIClient], bulk: str, role: str | None, status: int
) -> None:
    response = client_for(role).post(f"/api/v1/audit/batches/{bulk}/revert/", {}, format="json")
    assert response.status_code == status
    if role == "au_manager":
        # An AU manager sees (and reverts) only AU's half of the bulk change.
        assert response.json()["reverted"] == 3
        assert Position.objects.filter(market__code="DE", state="hidden").count() == 3


@pytest.mark.parametrize(
    "body",
    [
        {"dry_run": "maybe"},
        {"force": "all"},
        {"force": [0]},
        {"force": [2**64]},
        {"unknown": 1},
        {"force": ["1"]},
    ],
)
def test_bad_input_is_a_field_error(
    client_for: Callable[[str | None], APIClient], bulk: str, body: dict[str, Any]
) -> None:
    response = client_for("editor").post(f"/api/v1/audit/batches/{bulk}/revert/", body, format="json")
    assert response.status_code == 400


def test_unknown_entries_and_batches_are_404(client_for: Callable[[str | None], APIClient], db: None) -> None:
    client = client_for("editor")
    assert client.post("/api/v1/audit/entries/987654/revert/", {}, format="json").status_code == 404
    assert (
        client.post("/api/v1/audit/entries/99999999999999999999999/revert/", {}, format="json").status_code
        == 404
    )
    batch = "/api/v1/audit/batches/00000000-0000-0000-0000-000000000000/revert/"
    assert client.post(batch, {}, format="json").status_code == 404
