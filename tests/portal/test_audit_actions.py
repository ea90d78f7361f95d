"""Audit action names come from one registry; an unknown name fails before anything is written."""

from __future__ import annotations

import pytest

from accounts.models import User
from portal.audit.actions import AuditAction, UnknownAuditAction, audit_action
from portal.audit.models import AuditEntry
from portal.audit.services import AuditRecord, audit_bulk, audit_record


def test_a_registered_name_is_its_action() -> None:
    assert audit_action("position.set") is AuditAction.POSITION_SET
    assert (
        AuditRecord(action=AuditAction.RULE_CREATE, object_type="rule", object_id="1").action == "rule.create"
    )


@pytest.mark.parametrize("name", ["position.sett", "Position.set", "", "partner_key.suspend"])
def test_an_unknown_name_is_refused(name: str) -> None:
    with pytest.raises(UnknownAuditAction, match="not a registered audit action"):
        AuditRecord(action=name, object_type="position", object_id="1")


@pytest.mark.django_db
def test_nothing_is_written_for_an_unknown_name() -> None:
    actor = User.objects.create_user("auditor")
    with pytest.raises(UnknownAuditAction):
        audit_record(actor=actor, record=AuditRecord(action="rule.creat", object_type="rule", object_id="1"))
    with pytest.raises(UnknownAuditAction):
        audit_bulk(
            actor=actor,
            records=[AuditRecord(action="rule.create", object_type="rule", object_id="1")]
            + [AuditRecord(action="rule.nope", object_type="rule", object_id="2")],
        )
    assert AuditEntry.objects.count() == 0


def test_names_are_unique_and_dotted() -> None:
    values = [a.value for a in AuditAction]
    assert len(values) == len(set(values))
    assert all(v.count(".") == 1 and v == v.lower() for v in values)
