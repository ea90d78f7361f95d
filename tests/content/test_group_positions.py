"""Group positions: one row per (group, item), audited, published once; never pinned; access."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from accounts.access import AccessDenied
from accounts.models import Role, User
from content.models import ContentItem, GroupPosition, Position
from content.services import PositionChange, group_position_set, group_positions_bulk_set
from markets.groups.services import group_create
from markets.models import Market, MarketGroup
from portal.audit.models import AuditEntry
from portal.errors import Conflict
from portal.shared_tables.models import OutboxEntry
from tests.factories import ContentItemFactory, MarketFactory
from tests.groups import person

pytestmark = pytest.mark.django_db


@pytest.fixture
def items() -> list[ContentItem]:
    return [ContentItemFactory(upstream_id=f"doc-{n}", title=f"Alps {n}") for n in range(5)]


def test_an_editor_of_every_member_promotes_an_item_in_the_group(
    dach: MarketGroup, items: list[ContentItem]
) -> None:
    mia = person("mia", Role.EDITOR, *Market.objects.filter(code__in=["DE", "AT", "CH"]))
    OutboxEntry.objects.all().delete()
    position = group_position_set(
        actor=mia,
        group=dach,
        item=items[0],
        change=PositionChange(state="promoted", boost=5, reason="Alps week"),
    )
    # One row, one audit entry and one outbox row under the group's code; no market positions
    assert (position.state, position.boost, position.version) == ("promoted", 5, 1)
    assert not Position.objects.exists()
    assert list(OutboxEntry.objects.values_list("kind", "key", "version")) == [("position", "DACH|doc-0", 1)]
    entry = AuditEntry.objects.get(action="position.set")
    assert (entry.market_code, entry.object_type, entry.object_id) == ("DACH", "group_position", "doc-0")
    # Repeating it writes nothing; a reset keeps the row as default
    group_position_set(
        actor=mia,
        group=dach,
        item=items[0],
        change=PositionChange(state="promoted", boost=5, reason="Alps week"),
    )
    assert GroupPosition.objects.get().version == 1
    reset = group_position_set(
        actor=mia, group=dach, item=items[0], change=PositionChange(state="default"), expected_version=1
    )
    assert (reset.state, reset.version) == ("default", 2)
    with pytest.raises(Conflict):
        group_position_set(
            actor=mia, group=dach, item=items[0], change=PositionChange(state="hidden"), expected_version=1
        )


def test_pins_stay_per_market(dach: MarketGroup, items: list[ContentItem]) -> None:
    with pytest.raises(ValidationError) as error:
        group_position_set(
            actor=None, group=dach, item=items[0], change=PositionChange(state="pinned", slot=1)
        )
    assert "state" in error.value.message_dict
    with pytest.raises(ValidationError):
        group_positions_bulk_set(
            actor=None,
            group=dach,
            item_ids=[i.pk for i in items],
            change=PositionChange(state="pinned", slot=1),
        )
    assert not GroupPosition.objects.exists()


def test_an_editor_of_de_and_at_cannot_set_dach_positions_while_ch_is_a_member(
    dach: MarketGroup, items: list[ContentItem]
) -> None:
    editor = person("de-at", Role.EDITOR, *Market.objects.filter(code__in=["DE", "AT"]))
    with pytest.raises(AccessDenied) as error:
        group_position_set(actor=editor, group=dach, item=items[0], change=PositionChange(state="hidden"))
    assert "group DACH" in str(error.value)
    with pytest.raises(AccessDenied):
        group_positions_bulk_set(
            actor=editor, group=dach, item_ids=[items[0].pk], change=PositionChange(state="hidden")
        )
    assert not GroupPosition.objects.exists()
    assert not OutboxEntry.objects.filter(kind="position").exists()


def test_an_editor_granted_on_the_group_sets_its_positions(
    dach: MarketGroup, items: list[ContentItem]
) -> None:
    editor = person("team", Role.EDITOR, group=dach)
    group_position_set(actor=editor, group=dach, item=items[0], change=PositionChange(state="shown"))
    assert GroupPosition.objects.get().state == "shown"


def test_bulk_writes_one_row_per_item_however_many_members(
    admin_user: User, items: list[ContentItem]
) -> None:
    members = [MarketFactory(code=code) for code in ("DE", "FR", "IT", "ES", "NL", "BE", "PL")]
    eu = group_create(actor=None, code="EU", name="European Union", members=members)
    OutboxEntry.objects.all().delete()
    result = group_positions_bulk_set(
        actor=admin_user,
        group=eu,
        item_ids=[i.pk for i in items] + [999_999],
        change=PositionChange(state="promoted", boost=3, reason="Ocean week"),
    )
    assert (result.changed, result.unchanged, result.refused_count) == (5, 0, 1)
    assert GroupPosition.objects.count() == 5
    assert OutboxEntry.objects.filter(kind="position").count() == 5
    assert set(OutboxEntry.objects.values_list("key", flat=True)) == {f"EU|doc-{n}" for n in range(5)}
    assert AuditEntry.objects.filter(action="position.set", market_code="EU").count() == 5
    # Again with one item changed: the rest are unchanged, versions grow only where written
    group_position_set(actor=admin_user, group=eu, item=items[0], change=PositionChange(state="hidden"))
    again = group_positions_bulk_set(
        actor=admin_user,
        group=eu,
        item_ids=[i.pk for i in items],
        change=PositionChange(state="promoted", boost=3, reason="Ocean week"),
    )
    assert (again.changed, again.unchanged) == (1, 4)
    assert GroupPosition.objects.get(item=items[0]).version == 3


def test_a_bad_bulk_change_is_refused_whole(
    admin_user: User, dach: MarketGroup, items: list[ContentItem]
) -> None:
    with pytest.raises(ValidationError) as error:
        group_positions_bulk_set(
            actor=admin_user,
            group=dach,
            item_ids=[i.pk for i in items],
            change=PositionChange(state="promoted", boost=0),
        )
    assert "boost" in error.value.message_dict
    assert not GroupPosition.objects.exists()


def test_the_resolver_reads_group_positions_and_rules_in_every_member_only(
    admin_user: User, dach: MarketGroup, fr: Market, items: list[ContentItem]
) -> None:
    from datetime import UTC, datetime

    from content.selectors import item_matrix, item_states, market_preview, with_tags
    from content.services import position_set
    from markets.groups.services import group_rule_create

    de, at = Market.objects.get(code="DE"), Market.objects.get(code="AT")
    ContentItem.objects.filter(pk=items[1].pk).update(source="gossip-mag")
    group_position_set(
        actor=admin_user,
        group=dach,
        item=items[0],
        change=PositionChange(state="promoted", boost=5, reason="Alps week"),
    )
    position_set(actor=admin_user, market=at, item=items[0], change=PositionChange(state="hidden"))
    group_rule_create(actor=admin_user, group=dach, action="hide", match_sources=["gossip-mag"], binding=True)
    now = datetime.now(UTC)
    loaded = list(with_tags(ContentItem.objects.filter(pk__in=[items[0].pk])))
    decision = item_states(de, loaded, now)[items[0].pk].decision
    assert (decision.state, decision.decided_by, decision.source, decision.step) == (
        "promoted",
        "group_position",
        "DACH",
        3,
    )
    cells = {
        cell.market.code: cell.decision for cell in item_matrix(markets=[de, at, fr], item=loaded[0], at=now)
    }
    # AT's own position beats the group's; FR is not a member; the binding DACH rule hides items[1] in DE
    assert (cells["AT"].state, cells["AT"].step) == ("hidden", 2)
    assert cells["FR"].decided_by == "default"
    preview = {
        r.candidate.content_id: r.decision for r in market_preview(market=de, at=now, include_hidden=True)
    }
    assert preview["doc-0"].state == "promoted"
    assert (preview["doc-1"].state, preview["doc-1"].binding, preview["doc-1"].source) == (
        "hidden",
        True,
        "DACH",
    )
