"""Market settings and rules: validation, permissions, audit and outbox in one transaction."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError

from accounts.access import AccessDenied
from accounts.models import User
from markets.codes import market_code_error, timezone_error
from markets.models import Market, Rule
from markets.services import market_create, market_update, rule_create, rule_delete, rule_update
from portal.audit.models import AuditEntry
from portal.errors import Conflict
from portal.shared_tables.models import OutboxEntry
from tests.factories import TagFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("code", ["AU", "DE", "GB", "AU-OPTUS", "US-VERIZON2", "XK"])
def test_valid_market_codes(code: str) -> None:
    assert market_code_error(code) is None


@pytest.mark.parametrize("code", ["au", "UK", "ZZ", "AUS", "AU-", "QQ-OPTUS", "AU-optus", "", "A"])
def test_invalid_market_codes(code: str) -> None:
    assert market_code_error(code)


def test_timezones_are_iana() -> None:
    assert timezone_error("Europe/Berlin") is None
    assert timezone_error("Mars/Olympus") is not None
    assert timezone_error("CEST") is not None


def test_admin_creates_a_market_with_audit_and_outbox(admin_user: User) -> None:
    market = market_create(
        actor=admin_user, code="nz", name="New Zealand", languages=["en", "mi"], timezone="Pacific/Auckland"
    )
    assert market.code == "NZ"
    assert AuditEntry.objects.filter(action="market.create", market_code="NZ").count() == 1
    assert OutboxEntry.objects.filter(kind="market", key="NZ", version=1).exists()


def test_market_create_rejects_bad_values(admin_user: User) -> None:
    with pytest.raises(ValidationError) as error:
        market_create(
            actor=admin_user, code="ZZ", name="Nowhere", languages=["xx_YY"], timezone="Nowhere/City"
        )
    assert set(error.value.message_dict) >= {"code", "languages", "timezone"}
    assert not Market.objects.filter(code="ZZ").exists()


def test_manager_updates_settings_and_version_grows(au_manager: User, au: Market) -> None:
    updated = market_update(actor=au_manager, market=au, timezone="Australia/Perth", languages=["en"])
    assert updated.timezone == "Australia/Perth"
    assert updated.version == 2
    entry = AuditEntry.objects.get(action="market.update")
    assert entry.before["timezone"] == "Australia/Sydney"
    assert entry.after["timezone"] == "Australia/Perth"
    assert OutboxEntry.objects.filter(kind="market", key="AU", version=2).exists()


def test_unchanged_settings_write_nothing(au_manager: User, au: Market) -> None:
    market_update(actor=au_manager, market=au, timezone=au.timezone)
    assert not AuditEntry.objects.exists()
    assert Market.objects.get(pk=au.pk).version == 1


def test_manager_of_au_is_refused_on_de(au_manager: User, de: Market) -> None:
    with pytest.raises(AccessDenied):
        market_update(actor=au_manager, market=de, name="Deutschland")
    with pytest.raises(AccessDenied):
        rule_create(actor=au_manager, market=de, action="hide", match_content_types=["video"])
    assert Market.objects.get(pk=de.pk).name == "Germany"
    assert not Rule.objects.exists()


def test_editor_may_not_change_rules_or_settings(editor: User, au: Market) -> None:
    with pytest.raises(AccessDenied):
        rule_create(actor=editor, market=au, action="hide", match_content_types=["video"])
    with pytest.raises(AccessDenied):
        market_update(actor=editor, market=au, name="Oz")


def test_stale_market_version_is_a_conflict(au_manager: User, au: Market) -> None:
    market_update(actor=au_manager, market=au, name="Australia (AU)", expected_version=1)
    with pytest.raises(Conflict) as conflict:
        market_update(actor=au_manager, market=au, name="Oz", expected_version=1)
    assert conflict.value.current["name"] == "Australia (AU)"


def test_rule_create_hide_by_tag(au_manager: User, au: Market) -> None:
    TagFactory(slug="hunting")
    rule = rule_create(actor=au_manager, market=au, action="hide", match_tags=["hunting"], note="review")
    assert rule.match_tags == ["hunting"]
    assert rule.author == au_manager
    assert Market.objects.get(pk=au.pk).version == 2
    assert OutboxEntry.objects.filter(kind="market", key="AU", version=2).exists()
    assert AuditEntry.objects.filter(action="rule.create", market_code="AU").exists()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"action": "hide"}, "match"),
        ({"action": "hide", "match_tags": ["no-such-tag"]}, "match_tags"),
        ({"action": "hide", "match_content_types": ["podcast"]}, "match_content_types"),
        ({"action": "promote", "match_content_types": ["video"], "boost": 0}, "boost"),
        ({"action": "explode", "match_content_types": ["video"]}, "action"),
        (
            {
                "action": "hide",
                "match_content_types": ["video"],
                "starts_at": datetime(2026, 2, 1, tzinfo=UTC),
                "ends_at": datetime(2026, 1, 1, tzinfo=UTC),
            },
            "ends_at",
        ),
    ],
)
def test_rule_validation(au_manager: User, au: Market, kwargs: dict, field: str) -> None:
    with pytest.raises(ValidationError) as error:
        rule_create(actor=au_manager, market=au, **kwargs)
    assert field in error.value.message_dict
    assert not Rule.objects.exists()
    assert Market.objects.get(pk=au.pk).version == 1


def test_rule_update_and_delete_bump_the_market(au_manager: User, au: Market) -> None:
    rule = rule_create(actor=au_manager, market=au, action="promote", match_content_types=["video"], boost=2)
    rule = rule_update(actor=au_manager, rule=rule, boost=5, expected_version=1)
    assert rule.boost == 5 and rule.version == 2
    with pytest.raises(Conflict):
        rule_update(actor=au_manager, rule=rule, boost=6, expected_version=1)
    rule_delete(actor=au_manager, rule=rule, expected_version=2)
    assert not Rule.objects.exists()
    assert Market.objects.get(pk=au.pk).version == 4
    assert list(
        AuditEntry.objects.filter(object_type="rule").order_by("id").values_list("action", flat=True)
    ) == ["rule.create", "rule.update", "rule.delete"]
