"""Concurrent edits: a change made against a stale version is refused (UI 409, API 412), never lost."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import User
from content.models import ContentItem, Position
from content.services import PositionChange, position_set
from markets.models import Market, Rule
from markets.services import market_update, rule_create, rule_update
from portal.audit.models import AuditEntry
from portal.errors import Conflict
from tests.factories import ContentItemFactory, TagFactory


@pytest.fixture
def item(db: None) -> ContentItem:
    return ContentItemFactory(upstream_id="ng-race", title="The race")


@pytest.fixture
def rule(au: Market, admin_user: User) -> Rule:
    TagFactory(slug="hunting")
    return rule_create(actor=admin_user, market=au, action="hide", match_tags=["hunting"], note="first")


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _api(user: User) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


# --- (a) stale writes are refused, saying what changed ----------------------------------------


@pytest.mark.django_db
def test_position_form_refuses_a_stale_version_and_shows_what_changed(
    editor: User, au_editor: User, au: Market, item: ContentItem
) -> None:
    # Given a position at version 1 that the editor opens in the form
    position_set(actor=editor, market=au, item=item, change=PositionChange(state="hidden"))
    # And a colleague promotes it meanwhile (version 2)
    position_set(actor=au_editor, market=au, item=item, change=PositionChange(state="promoted", boost=7))
    # When the editor saves the form they opened at version 1
    url = reverse("content:position", args=[item.upstream_id, au.code])
    response = _client(editor).post(url, {"version": 1, "state": "shown", "reason": "mine"})
    # Then it is refused with 409 and the page says what is stored now
    assert response.status_code == 409
    body = response.content.decode()
    assert "This position changed while you were editing it." in body
    assert "version 2, you edited version 1" in body
    # And it names the colleague who changed it
    who = au_editor.get_full_name() or au_editor.get_username()
    assert f"changed meanwhile by {who} at " in body
    assert "boost is now <strong>7</strong>" in body
    # And nothing was overwritten
    stored = Position.objects.get(market=au, item=item)
    assert (stored.state, stored.boost, stored.version) == ("promoted", 7, 2)


@pytest.mark.django_db
def test_position_api_refuses_a_stale_if_match_with_412_and_the_current_values(
    editor: User, au_editor: User, au: Market, item: ContentItem
) -> None:
    # Given a script that read the position and its ETag
    position_set(actor=editor, market=au, item=item, change=PositionChange(state="hidden"))
    client = _api(editor)
    url = f"/api/v1/markets/AU/positions/{item.upstream_id}/"
    etag = client.get(url)["ETag"]
    assert etag == '"position-1"'
    # And an editor changed it meanwhile
    position_set(actor=au_editor, market=au, item=item, change=PositionChange(state="promoted", boost=7))
    # When the script writes with its old ETag
    response = client.put(url, {"state": "shown"}, format="json", HTTP_IF_MATCH=etag)
    # Then it is refused with 412 and the body shows what is stored now
    assert response.status_code == 412
    assert response.json()["current"]["state"] == "promoted"
    assert response.json()["current"]["version"] == 2
    assert Position.objects.get(market=au, item=item).state == "promoted"
    # And with the fresh ETag the write goes through
    fresh = client.put(url, {"state": "shown"}, format="json", HTTP_IF_MATCH='"position-2"')
    assert fresh.status_code == 200 and fresh["ETag"] == '"position-3"'


@pytest.mark.django_db
def test_rule_form_refuses_a_stale_version_and_shows_what_changed(
    au_manager: User, admin_user: User, au: Market, rule: Rule
) -> None:
    # Given a manager who opened the rule at version 1, and an admin who changed its note meanwhile
    rule_update(actor=admin_user, rule=rule, expected_version=1, note="changed by admin")
    # When the manager saves their edit of version 1
    url = reverse("markets:rule_edit", args=[au.code, rule.pk])
    form = {"version": 1, "action": "hide", "match_tags": "hunting", "note": "manager's note"}
    response = _client(au_manager).post(url, form)
    # Then it is refused with 409, showing the note stored now
    assert response.status_code == 409
    body = response.content.decode()
    assert "Someone changed this rule while you were editing it." in body
    assert "note is now <strong>changed by admin</strong>" in body
    rule.refresh_from_db()
    assert (rule.note, rule.version) == ("changed by admin", 2)


@pytest.mark.django_db
def test_rule_api_refuses_a_stale_if_match(
    au_manager: User, admin_user: User, au: Market, rule: Rule
) -> None:
    # Given a script holding the rule's ETag, and a change made meanwhile
    client = _api(au_manager)
    url = f"/api/v1/markets/AU/rules/{rule.pk}/"
    etag = client.get(url)["ETag"]
    rule_update(actor=admin_user, rule=rule, expected_version=1, note="changed by admin")
    # When it patches with the old ETag
    response = client.patch(url, {"note": "script"}, format="json", HTTP_IF_MATCH=etag)
    # Then 412 with the current values
    assert response.status_code == 412
    assert response.json()["current"]["note"] == "changed by admin"
    rule.refresh_from_db()
    assert rule.note == "changed by admin"


@pytest.mark.django_db
def test_market_settings_form_refuses_a_stale_version_and_shows_what_changed(
    au_manager: User, admin_user: User, au: Market
) -> None:
    # Given the manager opened the settings at the current version, and an admin renamed it meanwhile
    opened = au.version
    market_update(actor=admin_user, market=au, name="Australia (all)", expected_version=opened)
    # When the manager saves their form
    url = reverse("markets:settings", args=[au.code])
    form = {
        "version": opened,
        "name": "Straya",
        "languages": "en",
        "timezone": "Australia/Sydney",
        "default_visibility": "visible",
        "active": "on",
    }
    response = _client(au_manager).post(url, form)
    # Then 409, with the name stored now
    assert response.status_code == 409
    body = response.content.decode()
    assert "Someone changed these settings while you were editing them." in body
    assert "name is now <strong>Australia (all)</strong>" in body
    au.refresh_from_db()
    assert au.name == "Australia (all)"


@pytest.mark.django_db
def test_market_api_refuses_a_stale_if_match(au_manager: User, admin_user: User, au: Market) -> None:
    # Given a script holding the market's ETag, and a change made meanwhile
    client = _api(au_manager)
    etag = client.get("/api/v1/markets/AU/")["ETag"]
    market_update(actor=admin_user, market=au, name="Australia (all)")
    # When it patches with the old ETag
    response = client.patch("/api/v1/markets/AU/", {"name": "Straya"}, format="json", HTTP_IF_MATCH=etag)
    # Then 412 with the name stored now
    assert response.status_code == 412
    assert response.json()["current"]["name"] == "Australia (all)"
    au.refresh_from_db()
    assert au.name == "Australia (all)"


# --- (b) two writers in parallel threads on PostgreSQL: no lost update ------------------------

ROUNDS = 15


@pytest.fixture
def postgres_only(db: None, settings: Any) -> None:
    if connection.vendor != "postgresql":
        pytest.skip(
            "Needs PostgreSQL: SQLite serialises whole-database writes, so it cannot show that row "
            "locks and versions stop a lost update (CI runs this suite on PostgreSQL too)."
        )
    # Publishing after commit is not what is under test; keep the threads on the relational DB.
    settings.SHARED_TABLES_PUBLISH_ON_COMMIT = False


def _race(read_version: Callable[[], int], write: Callable[[int, int, int], None]) -> tuple[int, int]:
    """Run ROUNDS rounds of two threads that read, meet at a barrier, then write; count outcomes."""
    wins = conflicts = 0
    lock = threading.Lock()
    errors: list[BaseException] = []
    for round_no in range(ROUNDS):
        barrier = threading.Barrier(2, timeout=30)
        outcomes: list[str] = []

        def writer(
            writer_no: int,
            round_no: int = round_no,
            barrier: threading.Barrier = barrier,
            outcomes: list[str] = outcomes,
        ) -> None:
            try:
                version = read_version()
                barrier.wait()
                try:
                    write(round_no, writer_no, version)
                    result = "win"
                except Conflict:
                    result = "conflict"
                with lock:
                    outcomes.append(result)
            except BaseException as exc:  # surfaced in the main thread below
                errors.append(exc)
            finally:
                connection.close()

        threads = [threading.Thread(target=writer, args=(n,)) for n in (1, 2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not errors, errors
        # Exactly one writer wins each round; the other is told about the conflict.
        assert sorted(outcomes) == ["conflict", "win"], (round_no, outcomes)
        wins += outcomes.count("win")
        conflicts += outcomes.count("conflict")
    return wins, conflicts


@pytest.mark.django_db(transaction=True)
def test_two_writers_on_one_position_lose_no_update(postgres_only: None, editor: User, au: Market) -> None:
    # Given one position both writers edit
    item = ContentItemFactory(upstream_id="ng-race")
    position_set(actor=editor, market=au, item=item, change=PositionChange(state="hidden"))

    def read_version() -> int:
        return Position.objects.get(market=au, item=item).version

    def write(round_no: int, writer_no: int, version: int) -> None:
        boost = round_no * 2 + writer_no
        position_set(
            actor=editor,
            market=au,
            item=item,
            change=PositionChange(state="promoted", boost=boost),
            expected_version=version,
        )

    # When two threads read-modify-write it at the same moment, round after round
    wins, conflicts = _race(read_version, write)
    # Then every round had one winner and one refusal, and the version counts every successful write
    assert (wins, conflicts) == (ROUNDS, ROUNDS)
    stored = Position.objects.get(market=au, item=item)
    assert stored.version == 1 + wins
    assert AuditEntry.objects.filter(action="position.set", object_id="ng-race").count() == 1 + wins


@pytest.mark.django_db(transaction=True)
def test_two_writers_on_one_rule_lose_no_update(postgres_only: None, admin_user: User, au: Market) -> None:
    # Given one rule both writers edit
    TagFactory(slug="hunting")
    rule = rule_create(actor=admin_user, market=au, action="hide", match_tags=["hunting"])
    start = rule.version

    def read_version() -> int:
        return Rule.objects.get(pk=rule.pk).version

    def write(round_no: int, writer_no: int, version: int) -> None:
        current = Rule.objects.select_related("market").get(pk=rule.pk)
        rule_update(
            actor=admin_user, rule=current, expected_version=version, note=f"round {round_no} by {writer_no}"
        )

    # When two threads update it at the same moment, round after round
    wins, conflicts = _race(read_version, write)
    # Then no update was lost: the version grew by exactly the number of successful writes
    assert (wins, conflicts) == (ROUNDS, ROUNDS)
    rule.refresh_from_db()
    assert rule.version == start + wins
    assert AuditEntry.objects.filter(action="rule.update").count() == wins


@pytest.mark.django_db
def test_rule_edit_and_delete_without_a_version_are_refused(client: Client, au_manager: Any, au: Any) -> None:
    # Given a rule, and forms posted without the version they were made against
    rule = rule_create(actor=au_manager, market=au, action="promote", match_content_types=["video"], boost=2)
    client.force_login(au_manager)
    edit = client.post(
        f"/markets/AU/rules/{rule.pk}/", {"action": "promote", "boost": "9", "match_content_types": ["video"]}
    )
    delete = client.post(f"/markets/AU/rules/{rule.pk}/delete/", {})
    # Then neither is applied: the edit re-renders with an error, the delete is refused with a message
    assert edit.status_code == 422
    assert delete.status_code == 302
    rule.refresh_from_db()
    assert (rule.boost, rule.version) == (2, 1)


WRITERS = 20


def _in_threads(work: Callable[[int], None], count: int) -> list[BaseException]:
    """Run `work(n)` for n in range(count) in threads released together; return their errors."""
    barrier = threading.Barrier(count, timeout=30)
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            barrier.wait()
            work(n)
        except BaseException as exc:  # surfaced by the caller
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return errors


@pytest.mark.django_db(transaction=True)
def test_twenty_writers_on_one_market_lose_no_update_and_repeat_no_version(
    postgres_only: None, editor: User, au: Market
) -> None:
    # Given 20 items of one market, each already positioned once
    items = [ContentItemFactory(upstream_id=f"ng-{n}") for n in range(WRITERS)]
    for item in items:
        position_set(actor=editor, market=au, item=item, change=PositionChange(state="hidden"))

    # When 20 writers change a different item each, three times, all at once
    def work(n: int) -> None:
        for round_no in range(3):
            position_set(
                actor=editor,
                market=au,
                item=items[n],
                change=PositionChange(state="promoted", boost=round_no + 1),
            )

    errors = _in_threads(work, WRITERS)

    # Then none failed, every write counted once, and every version is 4 with its audit trail
    assert errors == []
    stored = {p.item.upstream_id: (p.version, p.boost) for p in Position.objects.select_related("item")}
    assert stored == {f"ng-{n}": (4, 3) for n in range(WRITERS)}
    assert AuditEntry.objects.filter(action="position.set").count() == WRITERS * 4


@pytest.mark.django_db(transaction=True)
def test_twenty_first_writers_of_one_position_create_it_once(
    postgres_only: None, editor: User, au: Market
) -> None:
    # Given an item with no position yet, when 20 writers set it at once with no version check
    item = ContentItemFactory(upstream_id="ng-first")

    def work(n: int) -> None:
        position_set(actor=editor, market=au, item=item, change=PositionChange(state="promoted", boost=n + 1))

    errors = _in_threads(work, WRITERS)

    # Then all succeed one after another: one row, versions 1..20 with none repeated
    assert errors == []
    row = Position.objects.get(market=au, item=item)
    assert row.version == WRITERS
    versions = [
        e.after["version"] for e in AuditEntry.objects.filter(action="position.set", object_id="ng-first")
    ]
    assert sorted(versions) == list(range(1, WRITERS + 1))


@pytest.mark.django_db(transaction=True)
def test_twenty_writers_pinning_one_slot_pin_it_once(postgres_only: None, editor: User, au: Market) -> None:
    # Given 20 items, when 20 writers pin a different item each to slot 1 at once
    from django.core.exceptions import ValidationError

    items = [ContentItemFactory(upstream_id=f"ng-pin-{n}") for n in range(WRITERS)]
    refused: list[int] = []
    lock = threading.Lock()

    def work(n: int) -> None:
        try:
            position_set(
                actor=editor, market=au, item=items[n], change=PositionChange(state="pinned", slot=1)
            )
        except ValidationError:
            with lock:
                refused.append(n)

    errors = _in_threads(work, WRITERS)

    # Then exactly one holds the slot and the other 19 were told it is taken
    assert errors == []
    assert Position.objects.filter(market=au, state="pinned", slot=1).count() == 1
    assert len(refused) == WRITERS - 1
    # And no placeholder row is left behind by the refused writers
    assert Position.objects.filter(market=au, version=0).count() == 0


@pytest.mark.django_db(transaction=True)
def test_pin_reorders_and_new_pins_at_once_never_share_a_slot(
    postgres_only: None, editor: User, au: Market
) -> None:
    # Given pins in slots 1-4, and 16 new items
    from django.core.exceptions import ValidationError

    from content.services import pins_reorder

    pinned = [ContentItemFactory(upstream_id=f"ng-order-{n}") for n in range(4)]
    for slot, item in enumerate(pinned, start=1):
        position_set(actor=editor, market=au, item=item, change=PositionChange(state="pinned", slot=slot))
    fresh = [ContentItemFactory(upstream_id=f"ng-new-{n}") for n in range(16)]
    moving = Position.objects.get(market=au, item=pinned[1])

    # When 4 editors move the slot-2 pin up and down while 16 pin new items into slots 1-6
    def work(n: int) -> None:
        try:
            if n < 4:
                pins_reorder(actor=editor, market=au, position=moving, direction="up" if n % 2 else "down")
            else:
                slot = 1 + n % 6
                position_set(
                    actor=editor,
                    market=au,
                    item=fresh[n - 4],
                    change=PositionChange(state="pinned", slot=slot),
                )
        except (ValidationError, Conflict):
            pass  # a slot taken, a pin that moved meanwhile: refused, as a user would be told

    errors = _in_threads(work, WRITERS)

    # Then nothing failed otherwise (no deadlock), and no slot holds two pins
    assert errors == []
    slots = list(Position.objects.filter(market=au, state="pinned").values_list("slot", flat=True))
    assert len(slots) == len(set(slots)), sorted(slots)
    assert len(slots) >= 4


@pytest.mark.django_db(transaction=True)
def test_bulk_writers_and_single_writers_on_one_market_never_deadlock(
    postgres_only: None, editor: User, au: Market, de: Market
) -> None:
    # Given 200 items, when four bulk writers (overlapping selections, both markets) and 16 single
    # writers run at once
    from content.services import positions_bulk_set

    items = [ContentItemFactory(upstream_id=f"ng-bulk-{n}") for n in range(200)]
    ids = [item.pk for item in items]

    def work(n: int) -> None:
        if n < 4:
            selection = ids[n * 30 : n * 30 + 100][:: (1 if n % 2 else -1)]
            positions_bulk_set(
                actor=editor, markets=[au, de], item_ids=selection, change=PositionChange(state="hidden")
            )
        else:
            position_set(
                actor=editor, market=au, item=items[n * 7], change=PositionChange(state="promoted", boost=n)
            )

    errors = _in_threads(work, WRITERS)

    # Then none failed (no deadlock, no duplicate key) and versions count the writes exactly
    assert errors == []
    audit = AuditEntry.objects.filter(action="position.set")
    for row in Position.objects.filter(version__gt=0).select_related("item", "market"):
        writes = audit.filter(object_id=row.item.upstream_id, market_code=row.market.code).count()
        assert row.version == writes, (row.item.upstream_id, row.market.code)
