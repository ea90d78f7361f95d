"""Navigation and dashboard panels show only what each role may use."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from accounts.models import User

pytestmark = pytest.mark.django_db

LINKS = {
    "Content": "/content/",
    "Markets": "/markets/",
    "Audit log": "/audit/",
    "Labels": "/labels/",
    "Partners": "/partners/",
    "Publishing": "/publishing/",
}


def nav_links(client: Client, user: User) -> set[str]:
    client.force_login(user)
    html = client.get("/").content.decode()
    nav = re.search(r'<nav aria-label="Main">(.*?)</nav>', html, re.S)
    assert nav is not None
    return {name for name, href in LINKS.items() if f'href="{href}"' in nav.group(1)}


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("admin_user", set(LINKS)),
        ("editor", {"Content", "Markets", "Audit log"}),
        ("au_manager", {"Content", "Markets", "Audit log"}),
        ("reviewer", {"Labels"}),
        ("nobody", set()),
    ],
)
def test_each_role_sees_only_its_links(
    client: Client, request: pytest.FixtureRequest, who: str, expected: set[str]
) -> None:
    assert nav_links(client, request.getfixturevalue(who)) == expected


def test_every_linked_page_opens_for_the_admin(client: Client, admin_user: User) -> None:
    client.force_login(admin_user)
    for href in LINKS.values():
        assert client.get(href).status_code == 200, href


def test_reviewer_dashboard_shows_the_label_queue_panel(client: Client, reviewer: User) -> None:
    client.force_login(reviewer)
    html = client.get("/").content.decode()
    assert "Image labels" in html
    assert "Partner keys" not in html


def test_admin_dashboard_shows_partner_alerts_and_publishing(client: Client, admin_user: User) -> None:
    client.force_login(admin_user)
    html = client.get("/").content.decode()
    assert "Partner keys" in html
    assert "Publishing to the shared tables" in html


def test_editor_dashboard_has_no_admin_or_reviewer_panels(client: Client, editor: User) -> None:
    client.force_login(editor)
    html = client.get("/").content.decode()
    assert "Partner keys" not in html
    assert "Image labels" not in html
    assert "Publishing to the shared tables" not in html
