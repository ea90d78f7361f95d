"""Single sign-on in a real browser: Chromium signs in through the provider's own page."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.models import Membership, MembershipSource, Role, User
from accounts.sso.models import SsoGroupMapping
from tests.browser import shot
from tests.factories import MarketFactory
from tests.sso.conftest import configure_sso
from tests.sso.provider import Provider

pytestmark = pytest.mark.e2e


def test_an_editor_signs_in_through_the_identity_provider(
    live_server: Any, browser_page: Any, transactional_db: None, settings: Any, provider: Provider
) -> None:
    from playwright.sync_api import expect

    # Given single sign-on with the company's provider, whose AU editors' group Meridian maps
    configure_sso(settings, provider)
    au = MarketFactory(code="AU", name="Australia")
    SsoGroupMapping.objects.create(group_name="meridian-editors-au", role=Role.EDITOR, market=au)
    provider.set_user(
        "00u-mia-1",
        email="mia@example.com",
        given_name="Mia",
        family_name="Chen",
        preferred_username="mia",
        groups=["meridian-editors-au"],
    )
    page = browser_page
    # The provider's page links a stylesheet on a CDN; this machine has no internet.
    page.route("https://cdn.jsdelivr.net/**", lambda route: route.abort())

    # When Mia opens Meridian and chooses "Sign in with Acme ID"
    page.goto(f"{live_server.url}/")
    expect(page.get_by_role("heading", name="Log in to Meridian")).to_be_visible()
    page.get_by_role("link", name="Sign in with Acme ID").click()

    # Then she is on the provider's own sign-in page, where she signs in
    page.wait_for_url(f"{provider.issuer}/oauth2/authorize?**")
    expect(page.get_by_role("heading", name="Authorize Client")).to_be_visible()
    page.locator("input[name=sub]").fill("00u-mia-1")
    page.get_by_role("button", name="Authorize").click()

    # And she is back on Meridian's dashboard, logged in as herself with her editor role
    page.wait_for_url(f"{live_server.url}/")
    expect(page.locator(".account")).to_contain_text("Mia Chen")
    expect(page.get_by_role("link", name="Markets")).to_be_visible()
    expect(page.get_by_role("link", name="Partners")).to_have_count(0)
    shot(page, "sso-signed-in")
    mia = User.objects.get(sso_identity__subject="00u-mia-1")
    assert list(Membership.objects.filter(user=mia).values_list("role", "market__code", "source")) == [
        (Role.EDITOR, "AU", MembershipSource.SSO)
    ]

    # And logging out ends her Meridian session
    page.get_by_role("button", name="Log out").click()
    page.goto(f"{live_server.url}/")
    expect(page.get_by_role("heading", name="Log in to Meridian")).to_be_visible()
