"""Single sign-on against a real OpenID Connect provider on 127.0.0.1 (oidc-provider-mock)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth import BACKEND_SESSION_KEY
from django.test import Client

from accounts.models import ApiToken, Membership, MembershipSource, Role, User
from accounts.services import api_token_create
from accounts.sso.models import SsoGroupMapping, SsoIdentity
from markets.models import Market
from portal.models import AuditEntry
from tests.factories import UserFactory
from tests.sso.conftest import configure_sso, finish_login, sso_login, start_login
from tests.sso.provider import Provider, running_provider

pytestmark = pytest.mark.django_db

MIA = {"email": "mia@example.com", "given_name": "Mia", "family_name": "Chen", "preferred_username": "mia"}


@pytest.fixture
def mappings(au: Market, de: Market) -> None:
    SsoGroupMapping.objects.create(group_name="meridian-editors-au", role=Role.EDITOR, market=au)
    SsoGroupMapping.objects.create(group_name="meridian-managers-de", role=Role.MARKET_MANAGER, market=de)
    SsoGroupMapping.objects.create(group_name="meridian-admins", role=Role.ADMIN, market=None)


def _grants(user: User) -> set[tuple[str, str | None, str]]:
    return {
        (m.role, m.market.code if m.market else None, m.source)
        for m in Membership.objects.select_related("market").filter(user=user)
    }


def test_first_login_creates_the_user_just_in_time_with_the_groups_roles(
    client: Client, sso: Provider, mappings: None
) -> None:
    # Given Mia at the provider, in the AU editors' group and a group Meridian does not map
    # When she signs in through the provider for the first time
    response = sso_login(client, sso, "00u-mia-1", groups=["meridian-editors-au", "wiki-users"], **MIA)

    # Then she is logged in and back on the dashboard
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.session[BACKEND_SESSION_KEY] == "accounts.sso.backends.SsoBackend"
    assert client.get("/").status_code == 200
    # And her user was created from the ID token, keyed on issuer + sub
    identity = SsoIdentity.objects.select_related("user").get(issuer=sso.issuer, subject="00u-mia-1")
    user = identity.user
    assert (user.username, user.email, user.first_name, user.is_active) == ("mia", MIA["email"], "Mia", True)
    assert not user.has_usable_password()
    assert identity.groups == ["meridian-editors-au", "wiki-users"]
    # And she holds exactly what her mapped group grants, marked as coming from SSO
    assert _grants(user) == {(Role.EDITOR, "AU", MembershipSource.SSO)}
    # And all of it is in the audit log
    actions = set(AuditEntry.objects.filter(object_id=str(user.pk)).values_list("action", "via"))
    assert actions == {("sso.user_create", "sso"), ("membership.grant", "sso")}


def test_the_flow_uses_pkce_state_and_nonce(client: Client, sso: Provider, mappings: None) -> None:
    # When Meridian sends the browser to the provider
    sso.set_user("00u-mia-1", groups=["meridian-editors-au"], **MIA)
    authorize_url = start_login(client)
    query = {k: v[0] for k, v in parse_qs(urlsplit(authorize_url).query).items()}

    # Then it asks for a code with an S256 PKCE challenge, a state and a nonce
    assert authorize_url.startswith(f"{sso.issuer}/oauth2/authorize?")
    assert query["response_type"] == "code"
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) >= 43
    assert len(query["state"]) >= 32 and len(query["nonce"]) >= 32
    assert set(query["scope"].split()) >= {"openid", "email", "profile"}
    # And the provider (which checks the verifier against the challenge) issues the tokens
    response = finish_login(client, sso.sign_in(authorize_url, "00u-mia-1"))
    assert response["Location"] == "/"
    assert sso.pkce.verified == 1


def test_a_removed_group_removes_the_role_at_the_next_login_and_manual_roles_stay(
    client: Client, sso: Provider, mappings: None, us: Market
) -> None:
    # Given Mia signed in once as AU editor and DE market manager, and an admin gave her US by hand
    sso_login(client, sso, "00u-mia-1", groups=["meridian-editors-au", "meridian-managers-de"], **MIA)
    mia = User.objects.get(username="mia")
    Membership.objects.create(user=mia, role=Role.EDITOR, market=us)

    # When she leaves the DE managers' group at the provider and signs in again
    client.logout()
    sso_login(client, sso, "00u-mia-1", groups=["meridian-editors-au"], **MIA)

    # Then the DE role is gone, the AU one stays, and the manual US membership is kept
    assert _grants(mia) == {
        (Role.EDITOR, "AU", MembershipSource.SSO),
        (Role.EDITOR, "US", MembershipSource.MANUAL),
    }
    revoked = AuditEntry.objects.get(action="membership.revoke", object_id=str(mia.pk))
    assert revoked.before == {"role": "market_manager", "market": "DE", "source": "sso"}
    assert revoked.market_code == "DE"
    # And the same user was updated, not a second one created
    assert SsoIdentity.objects.count() == 1 and User.objects.filter(email=MIA["email"]).count() == 1


def test_profile_changes_at_the_provider_are_copied_and_audited(
    client: Client, sso: Provider, mappings: None
) -> None:
    sso_login(client, sso, "00u-mia-1", groups=["meridian-admins"], **MIA)
    client.logout()
    sso_login(client, sso, "00u-mia-1", groups=["meridian-admins"], **{**MIA, "family_name": "Weber"})
    mia = User.objects.get(username="mia")
    assert mia.last_name == "Weber"
    update = AuditEntry.objects.get(action="sso.user_update")
    assert (update.before["last_name"], update.after["last_name"]) == ("Chen", "Weber")


def test_an_existing_account_with_the_same_email_is_never_taken_over(
    client: Client, sso: Provider, mappings: None, admin_user: User
) -> None:
    # Given a local admin account with Mia's email and username
    local = UserFactory(username="mia", email=MIA["email"])
    Membership.objects.create(user=local, role=Role.ADMIN)

    # When someone signs in through the provider with that email and username
    sso_login(client, sso, "00u-other", groups=["meridian-editors-au"], **MIA)

    # Then a new user is created for the provider identity; the local admin is untouched
    identity = SsoIdentity.objects.select_related("user").get(subject="00u-other")
    assert identity.user.pk != local.pk
    assert identity.user.username == "mia-2"
    assert client.get("/partners/").status_code == 403


def test_a_user_whose_groups_grant_nothing_is_deactivated_and_their_token_stops(
    client: Client, sso: Provider, mappings: None, au: Market
) -> None:
    # Given Mia signed in as AU editor and created an automation token
    sso_login(client, sso, "00u-mia-1", groups=["meridian-editors-au"], **MIA)
    mia = User.objects.get(username="mia")
    secret = api_token_create(actor=mia, user=mia, name="calendar").secret
    api = Client()
    assert api.get("/api/v1/markets/", HTTP_AUTHORIZATION=f"Token {secret}").status_code == 200

    # When she leaves every Meridian group at the provider and her session is checked again
    client.logout()
    response = sso_login(client, sso, "00u-mia-1", groups=["wiki-users"], **MIA)

    # Then the login is refused with the reason, she is deactivated and her token stops working
    assert response["Location"] == "/accounts/login/"
    assert "None of your groups" in client.get("/accounts/login/").content.decode()
    assert client.get("/").status_code == 302
    mia.refresh_from_db()
    assert not mia.is_active
    assert api.get("/api/v1/markets/", HTTP_AUTHORIZATION=f"Token {secret}").status_code == 401
    assert Membership.objects.filter(user=mia).count() == 0
    assert AuditEntry.objects.filter(action="sso.user_deactivate", object_id=str(mia.pk)).exists()
    assert ApiToken.objects.get(user=mia).revoked_at is None  # the token is kept, its owner is not active

    # And when a group grants something again, the next login reactivates her
    sso_login(client, sso, "00u-mia-1", groups=["meridian-editors-au"], **MIA)
    mia.refresh_from_db()
    assert mia.is_active
    assert api.get("/api/v1/markets/", HTTP_AUTHORIZATION=f"Token {secret}").status_code == 200


def test_a_user_deactivated_by_hand_in_meridian_stays_out(
    client: Client, sso: Provider, mappings: None
) -> None:
    sso_login(client, sso, "00u-mia-1", groups=["meridian-editors-au"], **MIA)
    User.objects.filter(username="mia").update(is_active=False)
    client.logout()
    response = sso_login(client, sso, "00u-mia-1", groups=["meridian-editors-au"], **MIA)
    assert response["Location"] == "/accounts/login/"
    assert not User.objects.get(username="mia").is_active


def test_a_tampered_state_is_refused(client: Client, sso: Provider, mappings: None) -> None:
    # Given a sign-in at the provider
    sso.set_user("00u-mia-1", groups=["meridian-editors-au"], **MIA)
    callback = sso.sign_in(start_login(client), "00u-mia-1")

    # When the state in the redirect back is not the one Meridian sent
    parts = urlsplit(callback)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    response = client.get(parts.path, {"code": query["code"], "state": query["state"][:-2] + "xx"})

    # Then Meridian refuses it and nobody is logged in or created
    assert response.status_code == 400
    assert client.get("/").status_code == 302
    assert not SsoIdentity.objects.exists()


def test_a_tampered_nonce_is_refused(
    client: Client, sso: Provider, mappings: None, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a sign-in at the provider whose nonce Meridian remembers in the session
    sso.set_user("00u-mia-1", groups=["meridian-editors-au"], **MIA)
    callback = sso.sign_in(start_login(client), "00u-mia-1")

    # When the nonce Meridian expects differs from the one in the ID token (a replayed token)
    session = client.session
    state = next(iter(session["oidc_states"]))
    session["oidc_states"][state]["nonce"] = "a-different-nonce-0123456789abcdef"
    session.save()
    response = finish_login(client, callback)

    # Then the login is refused, for that reason
    assert response["Location"] == "/accounts/login/"
    assert "Nonce verification failed" in caplog.text
    assert client.get("/").status_code == 302
    assert not SsoIdentity.objects.exists()


def test_a_wrong_pkce_verifier_is_refused_by_the_provider(
    client: Client, sso: Provider, mappings: None
) -> None:
    sso.set_user("00u-mia-1", groups=["meridian-editors-au"], **MIA)
    callback = sso.sign_in(start_login(client), "00u-mia-1")
    session = client.session
    state = next(iter(session["oidc_states"]))
    session["oidc_states"][state]["code_verifier"] = "x" * 64
    session.save()
    response = finish_login(client, callback)
    assert response["Location"] == "/accounts/login/"
    assert sso.pkce.verified == 0
    assert not SsoIdentity.objects.exists()


def test_an_id_token_from_another_issuer_is_refused(
    client: Client, settings: Any, provider: Provider, mappings: None, caplog: pytest.LogCaptureFixture
) -> None:
    # Given Meridian trusts provider A, but its endpoints lead to provider B (a mix-up)
    with running_provider() as other:
        configure_sso(
            settings,
            provider,
            OIDC_OP_AUTHORIZATION_ENDPOINT=f"{other.issuer}/oauth2/authorize",
            OIDC_OP_TOKEN_ENDPOINT=f"{other.issuer}/oauth2/token",
            OIDC_OP_USER_ENDPOINT=f"{other.issuer}/userinfo",
            OIDC_OP_JWKS_ENDPOINT=f"{other.issuer}/jwks",
        )
        # When B signs Mia in and issues a valid ID token with its own issuer
        response = sso_login(client, other, "00u-mia-1", groups=["meridian-admins"], **MIA)

    # Then Meridian refuses the token: it is not from the issuer it trusts
    assert response["Location"] == "/accounts/login/"
    assert f"ID token from issuer '{other.issuer}'" in caplog.text
    assert client.get("/").status_code == 302
    assert not SsoIdentity.objects.exists()


def test_the_provider_refusing_the_login_logs_nobody_in(client: Client, sso: Provider) -> None:
    authorize_url = start_login(client)
    state = parse_qs(urlsplit(authorize_url).query)["state"][0]
    response = client.get("/accounts/sso/callback/", {"error": "access_denied", "state": state})
    assert response["Location"] == "/accounts/login/"
    assert client.get("/").status_code == 302


def test_a_leaver_who_never_signs_in_again_is_deactivated_by_the_daily_sweep(
    client: Client, sso: Provider, mappings: None
) -> None:
    from datetime import timedelta

    from django.core.management import call_command
    from django.utils import timezone

    # Given Mia (SSO, with a token) last confirmed by the provider 31 days ago, and Sam 2 days ago
    sso_login(client, sso, "00u-mia-1", groups=["meridian-editors-au"], **MIA)
    sso_login(Client(), sso, "00u-sam-1", groups=["meridian-editors-au"], email="sam@example.com")
    mia = User.objects.get(username="mia")
    secret = api_token_create(actor=mia, user=mia, name="calendar").secret
    SsoIdentity.objects.filter(user=mia).update(last_login_at=timezone.now() - timedelta(days=31))
    SsoIdentity.objects.filter(subject="00u-sam-1").update(last_login_at=timezone.now() - timedelta(days=2))

    # When the daily sweep runs with a 30-day limit
    call_command("sso", "deactivate-stale", "--days", "30")

    # Then Mia is deactivated (audited), her session and token stop; Sam is untouched
    mia.refresh_from_db()
    assert not mia.is_active
    assert User.objects.get(email="sam@example.com").is_active
    assert client.get("/").status_code == 302
    assert Client().get("/api/v1/markets/", HTTP_AUTHORIZATION=f"Token {secret}").status_code == 401
    entry = AuditEntry.objects.get(action="sso.user_deactivate", object_id=str(mia.pk))
    assert entry.via == "command" and "30 days" in entry.after["reason"]


def test_a_role_granted_by_hand_too_stays_when_the_group_goes(
    client: Client, sso: Provider, mappings: None, admin_user: User, au: Market
) -> None:
    from accounts.services import membership_grant

    # Given Mia is AU editor through her group, and an admin also grants it to her by hand
    sso_login(client, sso, "00u-mia-1", groups=["meridian-editors-au"], **MIA)
    mia = User.objects.get(username="mia")
    membership_grant(actor=admin_user, user=mia, role=Role.EDITOR, market=au)
    assert _grants(mia) == {(Role.EDITOR, "AU", MembershipSource.MANUAL)}

    # When she leaves the group at the provider, the hand-granted role stays
    sso_login(client, sso, "00u-mia-1", groups=["meridian-admins"], **MIA)
    assert _grants(mia) == {
        (Role.EDITOR, "AU", MembershipSource.MANUAL),
        (Role.ADMIN, None, MembershipSource.SSO),
    }
