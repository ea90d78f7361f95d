"""The market pages admins use to create, copy, deactivate and reactivate markets; what others see."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.models import User
from markets.models import Market, Rule
from markets.services import market_deactivate
from portal.audit.models import AuditEntry
from tests.factories import MarketFactory, RuleFactory, TagFactory
from tests.ui.conftest import login

pytestmark = pytest.mark.django_db


def new_market(**changes: str) -> dict[str, str]:
    return {
        "code": "DE-TELEKOM",
        "name": "Telekom (Germany)",
        "copy_rules_from": "DE",
        "languages": "",
        "timezone": "",
        "default_visibility": "opt_in",
        **changes,
    }


@pytest.fixture
def de_rules(de: Market) -> list[Rule]:
    TagFactory(slug="hunting")
    return [
        RuleFactory(market=de, action="hide", match_tags=["hunting"], note="German youth-protection review"),
        RuleFactory(market=de, action="promote", boost=4, match_tags=[], match_content_types=["video"]),
    ]


def test_admin_sees_new_market_and_row_actions_managers_do_not(
    admin_user: User, au_manager: User, au: Market, de: Market
) -> None:
    html = login(admin_user).get("/markets/").content.decode()
    assert 'href="/markets/new/"' in html
    assert 'href="/markets/new/?copy=DE"' in html and 'href="/markets/DE/deactivate/"' in html

    html = login(au_manager).get("/markets/").content.decode()
    assert "/markets/new/" not in html and "/deactivate/" not in html


def test_market_list_queries_do_not_grow_with_markets(
    admin_user: User, au: Market, django_assert_max_num_queries: Any
) -> None:
    # Given 40 markets, a few of them inactive partner editions
    for n, code in enumerate(["DE", "FR", "GB", "IT", "ES", "NL", "BE", "AT", "CH", "SE"] * 4):
        MarketFactory(code=code if n < 10 else f"{code}-P{n}", active=n % 7 != 0)
    client = login(admin_user)
    client.get("/markets/")

    # When an admin opens the list, then the queries stay few and constant
    with django_assert_max_num_queries(8):
        html = client.get("/markets/").content.decode()
    assert html.count('aria-label="Deactivate ') + html.count('aria-label="Reactivate ') == 41


def test_copy_link_prefills_the_form_from_the_market(admin_user: User, de: Market) -> None:
    html = login(admin_user).get("/markets/new/?copy=DE").content.decode()
    assert '<option value="DE" selected>' in html
    assert 'value="de"' in html
    assert '<option value="Europe/Berlin" selected>' in html


def test_admin_creates_a_partner_edition_copying_rules(
    admin_user: User, de: Market, de_rules: list[Rule]
) -> None:
    # Given an admin on the new-market form
    client = login(admin_user)

    # When they create DE-TELEKOM as opt-in, copying DE's rules
    response = client.post("/markets/new/", new_market())

    # Then they land on its page, which lists the copied rules, and the change is audited
    assert response.status_code == 302 and response["Location"] == "/markets/DE-TELEKOM/"
    html = client.get(response["Location"]).content.decode()
    assert "DE-TELEKOM created, with 2 rule(s) copied from DE." in html
    assert "German youth-protection review" in html and "opt-in" in html
    telekom = Market.objects.get(code="DE-TELEKOM")
    assert (telekom.languages, telekom.timezone) == (["de"], "Europe/Berlin")
    assert telekom.rules.count() == 2
    assert AuditEntry.objects.filter(action="rule.copy", market_code="DE-TELEKOM").count() == 2


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"code": "ZZ-TELEKOM"}, "is not an ISO 3166-1 alpha-2 country code"),
        ({"code": "TELEKOM"}, "is not a market code"),
        ({"code": "de"}, "There is already a market DE"),
        ({"timezone": "Europe/Bonn"}, "Select a valid choice"),
        ({"copy_rules_from": "", "languages": ""}, "List at least one language"),
        ({"languages": "de, xx_YY"}, "is not a language tag"),
        ({"name": ""}, "This field is required"),
    ],
)
def test_bad_values_come_back_as_field_errors(
    admin_user: User, de: Market, changes: dict[str, str], message: str
) -> None:
    response = login(admin_user).post("/markets/new/", new_market(**changes))
    assert response.status_code == 422
    assert message in response.content.decode()
    assert list(Market.objects.values_list("code", flat=True)) == ["DE"]


@pytest.mark.parametrize("role", ["editor", "au_manager", "reviewer", "nobody"])
def test_non_admins_are_refused_the_admin_pages(
    request: pytest.FixtureRequest, role: str, au: Market, de: Market
) -> None:
    client = login(request.getfixturevalue(role))
    answers = [
        client.get("/markets/new/"),
        client.post("/markets/new/", new_market()),
        client.get("/markets/AU/deactivate/"),
        client.post("/markets/AU/deactivate/", {"version": au.version}),
        client.post("/markets/AU/activate/", {"version": au.version}),
    ]
    assert [a.status_code for a in answers] == [403] * 5
    assert all(b"data-portal-refusal" in a.content for a in answers)
    assert not Market.objects.filter(active=False).exists()
    assert not Market.objects.filter(code="DE-TELEKOM").exists()


def test_admin_deactivates_and_reactivates_from_the_confirmation_page(admin_user: User, au: Market) -> None:
    client = login(admin_user)
    page = client.get("/markets/AU/deactivate/").content.decode()
    assert "Deactivate AU?" in page and 'name="version" value="1"' in page

    # A form that does not say which version it changes changes nothing
    response = client.post("/markets/AU/deactivate/", {})
    assert response.status_code == 302 and Market.objects.get(pk=au.pk).active

    response = client.post("/markets/AU/deactivate/", {"version": "1"})
    assert response.status_code == 302
    html = client.get(response["Location"]).content.decode()
    assert "AU is inactive" in html and 'href="/markets/AU/activate/"' in html
    assert not Market.objects.get(pk=au.pk).active

    # A stale confirmation page is refused with the reason
    response = client.post("/markets/AU/activate/", {"version": "1"})
    assert not Market.objects.get(pk=au.pk).active
    assert "changed by someone else" in client.get(response["Location"]).content.decode()

    response = client.post("/markets/AU/activate/", {"version": "2"})
    assert Market.objects.get(pk=au.pk).active
    assert AuditEntry.objects.filter(action__in=["market.deactivate", "market.activate"]).count() == 2


def test_an_inactive_market_is_readable_and_refuses_changes_clearly(
    admin_user: User, au_manager: User, au: Market
) -> None:
    # Given AU is inactive, with a rule
    TagFactory(slug="hunting")
    rule = RuleFactory(market=au, action="hide", match_tags=["hunting"])
    market_deactivate(actor=admin_user, market=au)
    client = login(au_manager)

    # Then its manager reads its page, without edit buttons, with a note why
    html = client.get("/markets/AU/").content.decode()
    assert "AU is inactive" in html
    assert "Add a rule" not in html and f"/markets/AU/rules/{rule.pk}/" not in html

    # And opening an editor is refused, saying the market is inactive
    for url in ("/markets/AU/settings/", "/markets/AU/rules/new/", f"/markets/AU/rules/{rule.pk}/"):
        response = client.get(url)
        assert response.status_code == 403
        assert "Market AU is inactive" in response.content.decode()


def test_settings_show_the_status_read_only_to_managers(
    au_manager: User, admin_user: User, au: Market
) -> None:
    html = login(au_manager).get("/markets/AU/settings/").content.decode()
    assert 'name="active"' not in html
    assert "Only admins deactivate or reactivate a market." in html

    html = login(admin_user).get("/markets/AU/settings/").content.decode()
    assert 'href="/markets/AU/deactivate/"' in html


def test_the_new_market_page_offers_the_groups_to_join(admin_user: User, dach: Any) -> None:
    # Given DACH, when an admin opens the page, then it is offered; choosing it makes LI a member
    client = login(admin_user)
    assert 'value="DACH"' in client.get("/markets/new/").content.decode()
    response = client.post(
        "/markets/new/", {**new_market(code="LI", name="Liechtenstein"), "groups": ["DACH"]}
    )
    assert response.status_code == 302
    assert list(Market.objects.get(code="LI").market_groups.values_list("code", flat=True)) == ["DACH"]
