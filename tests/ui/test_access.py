"""Every portal page and HTMX endpoint, allowed and denied, for every role."""

from __future__ import annotations

import pytest
from django.test import Client

from content.models import Position
from markets.models import Market, Rule
from tests.factories import PositionFactory, RuleFactory, TagFactory
from tests.ui.conftest import login

ROLES = ["admin_user", "editor", "au_editor", "au_manager", "reviewer", "nobody"]


@pytest.fixture
def world(au: Market, de: Market, us: Market, optus: Market, items: list) -> dict:
    TagFactory(slug="hunting")
    return {
        "de_rule": RuleFactory(market=de, action="hide", match_tags=["hunting"]),
        "au_rule": RuleFactory(market=au, action="hide", match_tags=["hunting"]),
        "de_pin": PositionFactory(market=de, item=items[0], state="pinned", slot=1),
        "au_pin": PositionFactory(market=au, item=items[0], state="pinned", slot=1),
    }


# (url, {role: expected status}); roles not named expect 403.
GET_PAGES = [
    ("/content/", {"admin_user": 200, "editor": 200, "au_editor": 200, "au_manager": 200}),
    ("/content/?market=DE", {"admin_user": 200, "editor": 200}),
    ("/content/count/", {"admin_user": 200, "editor": 200, "au_editor": 200, "au_manager": 200}),
    ("/content/items/ng-001/", {"admin_user": 200, "editor": 200, "au_editor": 200, "au_manager": 200}),
    (
        "/content/items/ng-001/positions/AU/",
        {"admin_user": 200, "editor": 200, "au_editor": 200, "au_manager": 200},
    ),
    ("/content/items/ng-001/positions/DE/", {"admin_user": 200, "editor": 200}),
    ("/markets/", {"admin_user": 200, "editor": 200, "au_editor": 200, "au_manager": 200}),
    ("/markets/AU/", {"admin_user": 200, "editor": 200, "au_editor": 200, "au_manager": 200}),
    ("/markets/AU-OPTUS/", {"admin_user": 200, "editor": 200, "au_manager": 200}),
    ("/markets/DE/", {"admin_user": 200, "editor": 200}),
    ("/markets/AU/preview/", {"admin_user": 200, "editor": 200, "au_editor": 200, "au_manager": 200}),
    ("/markets/DE/preview/", {"admin_user": 200, "editor": 200}),
    ("/markets/AU/settings/", {"admin_user": 200, "au_manager": 200}),
    ("/markets/DE/settings/", {"admin_user": 200}),
    ("/markets/AU/rules/new/", {"admin_user": 200, "au_manager": 200}),
    ("/markets/DE/rules/new/", {"admin_user": 200}),
    ("/audit/", {"admin_user": 200, "editor": 200, "au_editor": 200, "au_manager": 200}),
    ("/audit/?market=DE", {"admin_user": 200, "editor": 200}),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("url", "allowed"), GET_PAGES, ids=[u for u, _ in GET_PAGES])
def test_get_pages_per_role(
    request: pytest.FixtureRequest, world: dict, role: str, url: str, allowed: dict
) -> None:
    # Given a user of `role`
    client = login(request.getfixturevalue(role))
    # When they open the page
    response = client.get(url)
    # Then they get it, or a 403 page that says what was refused
    assert response.status_code == allowed.get(role, 403)
    if response.status_code == 403:
        assert b"refused" in response.content
        assert b"<html" in response.content


def test_rule_pages_of_another_market_are_refused(world: dict, au_manager) -> None:
    client = login(au_manager)
    rule = world["de_rule"]
    assert client.get(f"/markets/DE/rules/{rule.pk}/").status_code == 403
    assert client.get(f"/markets/DE/rules/{rule.pk}/delete/").status_code == 403
    assert client.post(f"/markets/DE/rules/{rule.pk}/delete/", {"version": rule.version}).status_code == 403
    assert Rule.objects.filter(pk=rule.pk).exists()


def test_a_rule_is_only_reachable_through_its_own_market(world: dict, au_manager) -> None:
    # A DE rule addressed through AU's URL (which the manager may edit) is not found, not edited.
    rule = world["de_rule"]
    response = login(au_manager).post(f"/markets/AU/rules/{rule.pk}/", {"action": "hide", "match_tags": "x"})
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("role", "status"),
    [("au_manager", 403), ("editor", 403), ("reviewer", 403), ("nobody", 403), ("admin_user", 302)],
)
def test_settings_post_of_de(
    request: pytest.FixtureRequest, world: dict, de: Market, role: str, status: int
) -> None:
    client = login(request.getfixturevalue(role))
    response = client.post(
        "/markets/DE/settings/",
        {
            "version": de.version,
            "name": "Deutschland",
            "languages": "de",
            "timezone": "Europe/Berlin",
            "default_visibility": "visible",
            "active": "on",
        },
    )
    assert response.status_code == status
    de.refresh_from_db()
    assert (de.name == "Deutschland") == (status == 302)


@pytest.mark.parametrize(
    ("role", "status"), [("au_manager", 403), ("reviewer", 403), ("nobody", 403), ("editor", 302)]
)
def test_pin_move_in_de(request: pytest.FixtureRequest, world: dict, role: str, status: int) -> None:
    pin = world["de_pin"]
    client = login(request.getfixturevalue(role))
    response = client.post(f"/markets/DE/pins/{pin.pk}/move/", {"direction": "down", "version": pin.version})
    assert response.status_code == status
    pin.refresh_from_db()
    assert pin.slot == (2 if status == 302 else 1)


@pytest.mark.parametrize("role", ["reviewer", "nobody"])
def test_bulk_is_refused_without_a_positioning_role(
    request: pytest.FixtureRequest, world: dict, items: list, role: str
) -> None:
    client = login(request.getfixturevalue(role))
    response = client.post("/content/bulk/", {"item": [items[1].pk], "markets": ["AU"], "action": "hide"})
    assert response.status_code == 403
    assert not Position.objects.filter(item=items[1]).exists()


@pytest.mark.parametrize(
    ("role", "status"), [("au_manager", 403), ("reviewer", 403), ("nobody", 403), ("editor", 302)]
)
def test_tag_edits_need_the_tag_right(
    request: pytest.FixtureRequest, world: dict, role: str, status: int
) -> None:
    TagFactory(slug="polar")
    client = login(request.getfixturevalue(role))
    response = client.post("/content/items/ng-001/tags/", {"add": "polar"})
    assert response.status_code == status


@pytest.mark.parametrize(("role", "status"), [("au_manager", 403), ("au_editor", 403), ("editor", 302)])
def test_position_post_in_de(
    request: pytest.FixtureRequest, world: dict, items: list, role: str, status: int
) -> None:
    client = login(request.getfixturevalue(role))
    response = client.post(
        f"/content/items/{items[2].upstream_id}/positions/DE/", {"version": 0, "state": "hidden"}
    )
    assert response.status_code == status
    assert Position.objects.filter(item=items[2], market__code="DE").exists() == (status == 302)


def test_htmx_denial_is_a_fragment_with_403(world: dict, au_manager) -> None:
    response = login(au_manager).get("/content/items/ng-001/positions/DE/", HTTP_HX_REQUEST="true")
    assert response.status_code == 403
    assert b"<html" not in response.content
    assert b"edit positions in market DE" in response.content


def test_anonymous_users_are_sent_to_log_in(world: dict) -> None:
    client = Client()
    for url in (
        "/content/",
        "/markets/AU/",
        "/audit/",
        "/content/items/ng-001/",
        "/markets/AU/preview/",
        "/",
    ):
        response = client.get(url)
        assert response.status_code == 302
        assert "/accounts/login/" in response["Location"]


def test_anonymous_htmx_requests_redirect_the_whole_page(world: dict) -> None:
    response = Client().get("/content/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert response["HX-Redirect"].startswith("/accounts/login/")


def test_unknown_objects_are_404(world: dict, admin_user) -> None:
    client = login(admin_user)
    assert client.get("/content/items/no-such-id/").status_code == 404
    assert client.get("/markets/ZZ/").status_code == 404
    assert client.get("/markets/AU/rules/999999/").status_code == 404


@pytest.mark.parametrize(
    ("role", "links"),
    [
        ("editor", {"Content", "Markets", "Audit log"}),
        ("au_manager", {"Content", "Markets", "Audit log"}),
        ("reviewer", set()),
        ("nobody", set()),
    ],
)
def test_navigation_shows_only_what_the_role_may_use(
    request: pytest.FixtureRequest, world: dict, role: str, links: set
) -> None:
    html = login(request.getfixturevalue(role)).get("/").content.decode()
    nav = html.split('<nav aria-label="Main">')[1].split("</nav>")[0]
    for label in ("Content", "Markets", "Audit log"):
        assert (f">{label}</a>" in nav) == (label in links)
