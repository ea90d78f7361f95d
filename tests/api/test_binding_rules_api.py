"""Binding hide rules: only market managers of the market (or admins) set or clear them; they
beat editors' positions; audited and published."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine

from accounts.access import AccessDenied
from accounts.models import Membership, Role, User
from content.models import ContentItem, Tag
from markets.models import Market, Rule
from markets.services import market_create, rule_create, rule_delete, rule_update
from portal.audit.models import AuditEntry
from portal.audit.revert.selectors import RevertTarget
from portal.audit.revert.services import revert_apply
from portal.shared_tables.items import build_markets
from portal.shared_tables.models import OutboxEntry
from tests.api.conftest import db_state
from tests.factories import MarketFactory, RuleFactory, UserFactory
from tests.shared_tables.conftest import assert_schema_valid

pytestmark = pytest.mark.django_db


@pytest.fixture
def at(db: None) -> Market:
    return MarketFactory(code="AT", name="Austria", languages=["de"], timezone="Europe/Vienna")


def _manager(username: str, *markets: Market) -> User:
    user = UserFactory(username=username)
    for market in markets:
        Membership.objects.create(user=user, role=Role.MARKET_MANAGER, market=market)
    return user


@pytest.fixture
def lukas(de: Market) -> User:
    """Lukas manages DE."""
    return _manager("lukas", de)


@pytest.fixture
def at_manager(at: Market) -> User:
    """A manager of AT only."""
    return _manager("at-manager", at)


@pytest.fixture
def youth_rule(de: Market, tags: dict[str, Tag]) -> Rule:
    return RuleFactory(market=de, action="hide", match_tags=["hunting"], note="Youth protection")


def test_lukas_marks_des_hunting_rule_binding_audited_and_published(
    youth_rule: Rule, lukas: User, client_for: Callable[[str | None], Any]
) -> None:
    client = client_for("lukas")

    # When Lukas, DE's manager, marks the hunting rule binding
    response = client.patch(
        f"/api/v1/markets/DE/rules/{youth_rule.pk}/",
        {"binding": True},
        HTTP_IF_MATCH='"rule-1"',
        format="json",
    )

    # Then it is binding, audited as such, and DE's market item lists it as binding
    assert response.status_code == 200, response.json()
    assert response.json()["binding"] is True
    entry = AuditEntry.objects.get(action="rule.binding_set")
    assert entry.market_code == "DE" and entry.before["binding"] is False and entry.after["binding"] is True
    version = Market.objects.get(code="DE").version
    assert OutboxEntry.objects.filter(kind="market", key="DE", version=version).exists()
    assert build_markets(["DE"])["DE"]["rules"][0]["binding"] is True
    assert_schema_valid("markets", list(build_markets(["DE"]).values()))

    # And clearing it is audited too, and published as false
    cleared = client.patch(
        f"/api/v1/markets/DE/rules/{youth_rule.pk}/",
        {"binding": False},
        HTTP_IF_MATCH='"rule-2"',
        format="json",
    )
    assert cleared.status_code == 200 and cleared.json()["binding"] is False
    assert AuditEntry.objects.filter(action="rule.binding_clear", object_id=str(youth_rule.pk)).exists()
    assert build_markets(["DE"])["DE"]["rules"][0]["binding"] is False


def test_an_admin_creates_a_binding_rule_with_its_own_audit_entry(
    de: Market, tags: dict[str, Tag], client_for: Callable[[str | None], Any]
) -> None:
    response = client_for("admin_user").post(
        "/api/v1/markets/DE/rules/",
        {"action": "hide", "match_tags": ["hunting"], "binding": True, "note": "Court order"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["binding"] is True
    assert set(AuditEntry.objects.values_list("action", flat=True)) == {"rule.create", "rule.binding_set"}


def test_an_editor_cannot_set_binding(
    youth_rule: Rule, editor: User, client_for: Callable[[str | None], Any]
) -> None:
    client = client_for("editor")
    before = db_state()

    created = client.post(
        "/api/v1/markets/DE/rules/",
        {"action": "hide", "match_tags": ["hunting"], "binding": True},
        format="json",
    )
    patched = client.patch(f"/api/v1/markets/DE/rules/{youth_rule.pk}/", {"binding": True}, format="json")

    assert created.status_code == 403 and patched.status_code == 403
    assert "not allowed" in patched.json()["detail"]
    assert db_state() == before
    # Nor through the service (management commands and the portal use it too)
    with pytest.raises(AccessDenied):
        rule_update(actor=editor, rule=youth_rule, binding=True)
    with pytest.raises(AccessDenied):
        rule_create(
            actor=editor, market=youth_rule.market, action="hide", match_tags=["wildlife"], binding=True
        )


def test_a_manager_of_at_cannot_set_binding_on_a_de_rule(
    youth_rule: Rule, at_manager: User, client_for: Callable[[str | None], Any]
) -> None:
    client = client_for("at_manager")
    before = db_state()

    response = client.patch(f"/api/v1/markets/DE/rules/{youth_rule.pk}/", {"binding": True}, format="json")

    assert response.status_code == 403
    assert "DE" in response.json()["detail"]
    assert db_state() == before
    with pytest.raises(AccessDenied, match="set binding rules in market DE|edit rules in market DE"):
        rule_update(actor=at_manager, rule=youth_rule, binding=True)


def test_a_binding_rule_can_be_changed_or_deleted_only_by_who_may_set_binding(
    youth_rule: Rule, lukas: User, at_manager: User
) -> None:
    rule_update(actor=lukas, rule=youth_rule, binding=True)
    # A manager of AT can do nothing to it; Lukas can change and delete it
    with pytest.raises(AccessDenied):
        rule_delete(actor=at_manager, rule=youth_rule)
    changed = rule_update(actor=lukas, rule=youth_rule, note="Youth protection (KJM)")
    assert changed.binding is True
    rule_delete(actor=lukas, rule=changed)
    assert not Rule.objects.exists()


def test_a_promote_rule_cannot_be_binding(
    de: Market, tags: dict[str, Tag], client_for: Callable[[str | None], Any]
) -> None:
    client = client_for("admin_user")
    before = db_state()

    response = client.post(
        "/api/v1/markets/DE/rules/",
        {"action": "promote", "boost": 2, "match_tags": ["ocean"], "binding": True},
        format="json",
    )

    assert response.status_code == 400
    assert "Only hide rules can be binding" in response.json()["binding"][0]
    assert db_state() == before
    # Nor can a binding hide rule become a promote rule
    rule = rule_create(actor=None, market=de, action="hide", match_tags=["hunting"], binding=True)
    changed = client.patch(
        f"/api/v1/markets/DE/rules/{rule.pk}/", {"action": "promote", "boost": 1}, format="json"
    )
    assert changed.status_code == 400 and "binding" in changed.json()


@pytest.mark.parametrize("value", ["yes", "true", 1, 2, None, [True]])
def test_a_malformed_binding_is_a_400(
    de: Market, tags: dict[str, Tag], value: Any, client_for: Callable[[str | None], Any]
) -> None:
    response = client_for("admin_user").post(
        "/api/v1/markets/DE/rules/",
        {"action": "hide", "match_tags": ["hunting"], "binding": value},
        format="json",
    )
    assert response.status_code == 400
    assert "binding" in response.json()


@time_machine.travel(datetime(2026, 6, 1, tzinfo=UTC), tick=False)
def test_a_binding_rule_beats_an_editors_show_and_the_bulk_says_so(
    youth_rule: Rule, items: list[ContentItem], lukas: User, client_for: Callable[[str | None], Any]
) -> None:
    editor = client_for("editor")
    # Given an editor's "show" of the hunting article in DE: it beats the (non-binding) rule
    editor.put(
        "/api/v1/markets/DE/positions/art-hunt/", {"state": "shown", "reason": "Alps week"}, format="json"
    )
    before = editor.get("/api/v1/markets/DE/resolve?content_id=art-hunt").json()
    assert before["visible"] is True and before["decided_by"] == "position"

    # When Lukas marks the rule binding
    rule_update(actor=lukas, rule=youth_rule, binding=True)

    # Then the item is hidden in DE again, and the answer says which rule and that it is binding
    after = editor.get("/api/v1/markets/DE/resolve?content_id=art-hunt").json()
    assert after["visible"] is False and after["decided_by"] == "rule"
    assert after["rule_id"] == str(youth_rule.pk)
    assert f"rule #{youth_rule.pk} (binding)" in after["reason"]

    # And a bulk show of it (and of an ocean video) counts the one that will stay hidden
    bulk = editor.post(
        "/api/v1/markets/DE/positions/bulk/",
        {"content_ids": ["art-hunt", "vid-ocean"], "state": "shown"},
        format="json",
    ).json()
    assert bulk["changed"] == 2 and bulk["refused"] == []
    assert bulk["will_stay_hidden"] == [
        {
            "market": "DE",
            "reason": f"binding rule DE #{youth_rule.pk}",
            "count": 1,
            "content_ids": ["art-hunt"],
        }
    ]
    # A hide never "stays hidden" against its will: nothing to report
    hidden = editor.post(
        "/api/v1/markets/DE/positions/bulk/", {"content_ids": ["art-hunt"], "state": "hidden"}, format="json"
    ).json()
    assert hidden["will_stay_hidden"] == []


def test_a_partner_edition_copying_des_rules_keeps_the_binding_rule_binding(
    youth_rule: Rule, admin_user: User, lukas: User
) -> None:
    rule_update(actor=lukas, rule=youth_rule, binding=True)
    telekom = market_create(
        actor=admin_user, code="DE-TELEKOM", name="Telekom", copy_rules_from=youth_rule.market
    )
    copy = Rule.objects.get(market=telekom)
    assert copy.binding is True and copy.match_tags == ["hunting"]
    assert AuditEntry.objects.get(action="rule.copy", object_id=str(copy.pk)).after["binding"] is True


def test_reverting_a_binding_change_restores_it_and_needs_the_binding_right(
    youth_rule: Rule, lukas: User, editor: User, admin_user: User, tags: dict[str, Tag]
) -> None:
    rule_update(actor=lukas, rule=youth_rule, binding=True)
    entry = AuditEntry.objects.get(action="rule.binding_set")
    target = RevertTarget(entry_id=entry.pk)

    # An editor may read the log but cannot undo a legal duty: refused, nothing changes
    _, refused = revert_apply(actor=editor, target=target)
    assert refused.reverted == 0 and refused.refused
    youth_rule.refresh_from_db()
    assert youth_rule.binding is True

    # Lukas can: the rule is plain again, and that is audited as cleared, linked to the entry
    _, done = revert_apply(actor=lukas, target=target)
    assert done.reverted == 1
    youth_rule.refresh_from_db()
    assert youth_rule.binding is False
    assert AuditEntry.objects.get(action="rule.binding_clear").reverts_id == entry.pk

    # A binding rule deleted, then restored from the log, comes back binding
    created = rule_create(
        actor=admin_user, market=youth_rule.market, action="hide", match_tags=["wildlife"], binding=True
    )
    rule_delete(actor=admin_user, rule=created)
    deletion = AuditEntry.objects.get(action="rule.delete", object_id=str(created.pk))
    revert_apply(actor=admin_user, target=RevertTarget(entry_id=deletion.pk))
    assert Rule.objects.get(market=youth_rule.market, match_tags=["wildlife"]).binding is True
