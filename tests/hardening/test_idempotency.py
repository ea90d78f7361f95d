"""Idempotency-Key on API writes: a retry is answered from the record, never processed twice."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import ApiToken, User
from accounts.partners import enforcement
from accounts.partners.gateway import set_gateway
from accounts.partners.models import Partner, PartnerApiKey, UsagePlan
from accounts.partners.services import PlanInput, partner_create, plan_create
from accounts.services import api_token_create
from content.models import ContentItem, Position, Tag
from markets.models import Market, Rule
from portal.audit.models import AuditEntry
from portal.idempotency import IdempotencyRecord
from portal.shared_tables.models import OutboxEntry
from tests.factories import ContentItemFactory, TagFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
RULES = "/api/v1/markets/AU/rules/"
HIDE_HUNTING = {"action": "hide", "match_tags": ["hunting"], "note": "youth protection"}


def token_client(user: User) -> APIClient:
    client = APIClient()
    secret = api_token_create(actor=user, user=user, name=f"script of {user.username}").secret
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    return client


def post(client: APIClient, url: str, body: Any, key: str | None, **extra: Any) -> Any:
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.generic("POST", url, json.dumps(body), "application/json", **headers, **extra)


def counts() -> tuple[int, ...]:
    return (
        Rule.objects.count(),
        ContentItem.objects.count(),
        Position.objects.count(),
        ApiToken.objects.count(),
        AuditEntry.objects.count(),
        OutboxEntry.objects.count(),
    )


@pytest.fixture
def hunting(db: None) -> Tag:
    return TagFactory(slug="hunting")


def test_a_replay_returns_the_first_answer_and_creates_nothing(
    au: Market, admin_user: User, hunting: Tag
) -> None:
    # Given a script that created a rule with a key
    client = token_client(admin_user)
    first = post(client, RULES, HIDE_HUNTING, "rule-2026-03-10-a")
    assert first.status_code == 201, first.content
    before = counts()

    # When it retries the same request with the same key (its first answer timed out)
    again = post(client, RULES, HIDE_HUNTING, "rule-2026-03-10-a")

    # Then it gets the same status, body and ETag, marked as a replay, and nothing more is written
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again["ETag"] == first["ETag"]
    assert again["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert counts() == before
    assert Rule.objects.filter(market=au).count() == 1


def test_without_a_key_every_request_is_processed(au: Market, admin_user: User, hunting: Tag) -> None:
    client = token_client(admin_user)
    assert post(client, RULES, HIDE_HUNTING, None).status_code == 201
    # (a second identical rule would be refused as a repeat, so the second differs)
    assert post(client, RULES, {**HIDE_HUNTING, "match_content_types": ["video"]}, None).status_code == 201
    assert Rule.objects.count() == 2 and IdempotencyRecord.objects.count() == 0


def test_the_same_key_with_another_body_or_path_is_a_422_and_writes_nothing(
    au: Market, de: Market, admin_user: User, hunting: Tag
) -> None:
    client = token_client(admin_user)
    assert post(client, RULES, HIDE_HUNTING, "k-1").status_code == 201
    before = counts()

    other_body = post(client, RULES, {**HIDE_HUNTING, "note": "another"}, "k-1")
    other_path = post(client, "/api/v1/markets/DE/rules/", HIDE_HUNTING, "k-1")

    for answer in (other_body, other_path):
        assert answer.status_code == 422
        assert "Idempotency-Key" in answer.json()
    assert counts() == before


def test_another_user_with_the_same_key_is_independent(
    au: Market, admin_user: User, au_manager: User, hunting: Tag
) -> None:
    # Given the admin used a key (for another rule: an identical one would be refused as a repeat)
    videos = {**HIDE_HUNTING, "match_content_types": ["video"]}
    assert post(token_client(admin_user), RULES, videos, "shared-key").status_code == 201

    # When the AU market manager sends the same key (a shared key would make this body a 422)
    answer = post(token_client(au_manager), RULES, HIDE_HUNTING, "shared-key")

    # Then theirs is processed as a request of its own
    assert answer.status_code == 201
    assert "Idempotent-Replayed" not in answer
    assert answer.json()["author"] == "au-manager"
    assert Rule.objects.count() == 2


def test_an_expired_key_is_processed_anew_and_prune_deletes_old_records(
    au: Market, admin_user: User, hunting: Tag
) -> None:
    client = token_client(admin_user)
    with time_machine.travel(T0, tick=False):
        assert post(client, RULES, HIDE_HUNTING, "nightly").status_code == 201
    with time_machine.travel(T0 + timedelta(hours=23, minutes=59), tick=False):
        assert post(client, RULES, HIDE_HUNTING, "nightly")["Idempotent-Replayed"] == "true"
    # When the rule is removed meanwhile (an identical rule would be refused as a repeat)
    Rule.objects.all().delete()
    # And the key is used again more than 24 hours later
    with time_machine.travel(T0 + timedelta(hours=24, seconds=1), tick=False):
        answer = post(client, RULES, HIDE_HUNTING, "nightly")
    # Then it is a new request
    assert answer.status_code == 201 and "Idempotent-Replayed" not in answer
    assert Rule.objects.count() == 1
    assert IdempotencyRecord.objects.count() == 1

    # And the prune command deletes records once they are older than a day
    IdempotencyRecord.objects.create(
        user=admin_user, key="old", method="POST", path=RULES, body_sha256="0" * 64, created_at=T0
    )
    with time_machine.travel(T0 + timedelta(hours=49), tick=False):
        call_command("idempotency", "prune", stdout=(out := _Buffer()))
    assert "Deleted 2 expired" in out.text
    assert IdempotencyRecord.objects.count() == 0


class _Buffer:
    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> None:
        self.text += text

    def flush(self) -> None:
        pass


def test_a_request_still_in_progress_answers_409(au: Market, admin_user: User, hunting: Tag) -> None:
    # Given a first request whose processing has not finished (its record has no answer yet)
    client = token_client(admin_user)
    body = json.dumps(HIDE_HUNTING).encode()
    import hashlib

    IdempotencyRecord.objects.create(
        user=admin_user, key="slow", method="POST", path=RULES, body_sha256=hashlib.sha256(body).hexdigest()
    )
    # When the retry arrives meanwhile
    answer = client.generic("POST", RULES, body, "application/json", HTTP_IDEMPOTENCY_KEY="slow")
    # Then it is told to wait, and nothing is created
    assert answer.status_code == 409 and answer["Retry-After"]
    assert Rule.objects.count() == 0


def test_an_abandoned_in_progress_record_is_taken_over(au: Market, admin_user: User, hunting: Tag) -> None:
    # Given a request that died 20 minutes ago (a Lambda timeout) without finishing its record
    client = token_client(admin_user)
    body = json.dumps(HIDE_HUNTING).encode()
    import hashlib

    IdempotencyRecord.objects.create(
        user=admin_user,
        key="died",
        method="POST",
        path=RULES,
        body_sha256=hashlib.sha256(body).hexdigest(),
        created_at=datetime.now(UTC) - timedelta(minutes=20),
    )
    answer = client.generic("POST", RULES, body, "application/json", HTTP_IDEMPOTENCY_KEY="died")
    assert answer.status_code == 201 and Rule.objects.count() == 1


@pytest.mark.parametrize("key", ["", " ", "a b", "x" * 256, "caf\u00e9"])
def test_a_malformed_key_is_a_400_and_nothing_is_written(
    key: str, au: Market, admin_user: User, hunting: Tag
) -> None:
    client = token_client(admin_user)
    answer = client.generic(
        "POST", RULES, json.dumps(HIDE_HUNTING), "application/json", HTTP_IDEMPOTENCY_KEY=key
    )
    assert answer.status_code == 400 and "Idempotency-Key" in answer.json()
    assert Rule.objects.count() == 0 and IdempotencyRecord.objects.count() == 0


def test_a_final_4xx_is_replayed_but_401_403_and_5xx_are_not_recorded(
    au: Market, de: Market, au_manager: User, hunting: Tag, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = token_client(au_manager)
    # A bad body is final: the retry is answered from the record
    bad = post(client, RULES, {"action": "explode"}, "bad-1")
    assert bad.status_code == 400
    assert post(client, RULES, {"action": "explode"}, "bad-1")["Idempotent-Replayed"] == "true"
    # A refusal (DE is not theirs) is not recorded: a retry after a grant must go through
    assert post(client, "/api/v1/markets/DE/rules/", HIDE_HUNTING, "de-1").status_code == 403
    assert not IdempotencyRecord.objects.filter(key="de-1").exists()
    # An unauthenticated request is never recorded
    anonymous = post(APIClient(), RULES, HIDE_HUNTING, "anon")
    assert anonymous.status_code == 401 and not IdempotencyRecord.objects.filter(key="anon").exists()

    # A server error is not recorded, so the retry is processed
    def explode(**kwargs: Any) -> Any:
        raise RuntimeError("database went away")

    monkeypatch.setattr("markets.api.rule_create", explode)
    client.raise_request_exception = False
    assert post(client, RULES, HIDE_HUNTING, "boom").status_code == 500
    assert not IdempotencyRecord.objects.filter(key="boom").exists()
    monkeypatch.undo()
    assert post(client, RULES, HIDE_HUNTING, "boom").status_code == 201


def test_the_pipelines_retry_of_a_1000_row_bulk_upsert_is_not_applied_twice(editor: User) -> None:
    # Given the nightly pipeline's 1,000-row upsert, whose answer timed out
    rows = [
        {
            "upstream_id": f"n-{i:04d}",
            "content_type": "article",
            "title": f"Story {i}",
            "source": "natgeo-editorial",
            "language": "en",
            "published_at": "2026-03-09T22:00:00Z",
        }
        for i in range(1000)
    ]
    client = token_client(editor)
    first = post(client, "/api/v1/content/bulk-upsert/", {"items": rows}, "nightly-2026-03-10-batch-1")
    assert first.status_code == 200, first.content[:300]
    assert len(first.json()["created"]) == 1000
    before = counts()

    # When it retries with the same key
    again = post(client, "/api/v1/content/bulk-upsert/", {"items": rows}, "nightly-2026-03-10-batch-1")

    # Then it learns what the first one did (created 1,000), and nothing is written again
    assert again.status_code == 200 and again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert counts() == before


def test_position_bulk_is_replayed(au: Market, au_editor: User) -> None:
    ContentItemFactory(upstream_id="vid-ocean")
    ContentItemFactory(upstream_id="art-hunt")
    client = token_client(au_editor)
    body = {"content_ids": ["vid-ocean", "art-hunt"], "state": "promoted", "boost": 2}
    first = post(client, "/api/v1/markets/AU/positions/bulk/", body, "bulk-1")
    assert first.status_code == 200 and first.json()["changed"] == 2
    before = counts()
    versions = list(Position.objects.values_list("version", flat=True))

    again = post(client, "/api/v1/markets/AU/positions/bulk/", body, "bulk-1")

    assert again.status_code == 200 and again.json() == first.json()
    assert counts() == before
    assert list(Position.objects.values_list("version", flat=True)) == versions


def test_put_may_opt_in_too(au: Market, au_editor: User) -> None:
    ContentItemFactory(upstream_id="vid-ocean")
    client = token_client(au_editor)
    url = "/api/v1/markets/AU/positions/vid-ocean/"
    body = json.dumps({"state": "hidden", "reason": "rights"})
    first = client.generic("PUT", url, body, "application/json", HTTP_IDEMPOTENCY_KEY="put-1")
    again = client.generic("PUT", url, body, "application/json", HTTP_IDEMPOTENCY_KEY="put-1")
    assert first.status_code == again.status_code == 200
    assert again["Idempotent-Replayed"] == "true" and again["ETag"] == first["ETag"] == '"position-1"'
    assert AuditEntry.objects.filter(action__startswith="position").count() == 1


def test_token_create_replays_without_the_secret_and_stores_no_plaintext(editor: User) -> None:
    # Given an editor creating a token from a logged-in session, with a key
    client = APIClient()
    client.force_login(editor)
    body = {"name": "ingestion pipeline", "days": 30}
    first = post(client, "/api/v1/tokens/", body, "token-1")
    assert first.status_code == 201
    secret = first.json()["secret"]
    assert len(secret) > 20

    # When the request is retried with the same key
    again = post(client, "/api/v1/tokens/", body, "token-1")

    # Then it is the same token, but the secret is blanked and the answer says why
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    replay = again.json()
    assert replay["id"] == first.json()["id"] and replay["secret"] == ""
    assert "shown once" in replay["detail"]
    assert again["Cache-Control"] == "no-store"
    assert ApiToken.objects.filter(user=editor).count() == 1
    # And the plaintext secret is nowhere in the idempotency records
    for record in IdempotencyRecord.objects.all():
        assert secret.encode() not in bytes(record.response_body)
        assert secret not in json.dumps(record.response_headers)


@pytest.fixture
def local_gateway(settings: Any) -> Iterator[None]:
    settings.GATEWAY_BACKEND = "local"
    settings.API_GATEWAY_STAGES = ["meridian:local"]
    set_gateway(None)
    yield
    enforcement.set_limiter(None)
    set_gateway(None)


def test_partner_key_issue_replays_without_the_secret(
    local_gateway: None, admin_user: User, django_capture_on_commit_callbacks: Any
) -> None:
    partner: Partner = partner_create(actor=None, name="Optus")
    with django_capture_on_commit_callbacks(execute=True):
        plan: UsagePlan = plan_create(
            actor=None,
            data=PlanInput(name="Gold", rate_limit=5, burst_limit=10, api_stages=["meridian:local"]),
        )
    client = token_client(admin_user)
    body = {"partner": partner.pk, "plan": plan.pk, "name": "Optus web"}
    with django_capture_on_commit_callbacks(execute=True):
        first = post(client, "/api/v1/partner-keys/", body, "key-1")
        again = post(client, "/api/v1/partner-keys/", body, "key-1")
    assert first.status_code == again.status_code == 201
    secret = first.json()["secret"]
    assert again.json()["secret"] == "" and again.json()["key"]["id"] == first.json()["key"]["id"]
    assert PartnerApiKey.objects.count() == 1
    assert not any(secret.encode() in bytes(r.response_body) for r in IdempotencyRecord.objects.all())


def test_portal_forms_ignore_the_header(au: Market, admin_user: User) -> None:
    # The header only means something under /api/v1/: a portal form post is never replayed
    client = Client()
    client.force_login(admin_user)
    client.post("/markets/AU/", {}, HTTP_IDEMPOTENCY_KEY="form-1")
    assert IdempotencyRecord.objects.count() == 0


def test_the_schema_documents_the_header_on_writes(admin_user: User) -> None:
    client = APIClient()
    client.force_login(admin_user)
    schema = client.get("/api/schema/?format=json").json()
    post_rules = schema["paths"]["/api/v1/markets/{code}/rules/"]["post"]
    names = [p["name"] for p in post_rules["parameters"]]
    assert "Idempotency-Key" in names
    assert {"409", "422"} <= set(post_rules["responses"])
    get_rules = schema["paths"]["/api/v1/markets/{code}/rules/"]["get"]
    assert "Idempotency-Key" not in [p["name"] for p in get_rules.get("parameters", [])]


# --- browser sessions (issue #12: a keyed session POST answered 401 and logged the user out) ----


def _session_client(user: User) -> tuple[Client, str]:
    """A browser session that enforces CSRF, and the CSRF token its pages would carry."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/accounts/tokens/")  # any page sets the CSRF cookie
    return client, client.cookies["csrftoken"].value


def test_a_session_post_with_csrf_and_a_key_is_processed_then_replayed(
    au: Market, admin_user: User, hunting: Tag
) -> None:
    # Given a signed-in browser session with its CSRF token
    client, csrf = _session_client(admin_user)

    # When it posts a rule with an Idempotency-Key, twice
    first = post(client, RULES, HIDE_HUNTING, "session-rule-1", HTTP_X_CSRFTOKEN=csrf)
    before = counts()
    again = post(client, RULES, HIDE_HUNTING, "session-rule-1", HTTP_X_CSRFTOKEN=csrf)

    # Then the first is created (not a 401), the second is the replay, and the session still works
    assert first.status_code == 201, first.content
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert counts() == before
    assert client.get("/api/v1/markets/AU/rules/").status_code == 200


def test_a_session_post_without_csrf_is_a_403_with_or_without_a_key(
    au: Market, admin_user: User, hunting: Tag
) -> None:
    # Given a signed-in browser session that does not send the CSRF token
    client, _csrf = _session_client(admin_user)

    # When it posts with and without an Idempotency-Key
    keyed = post(client, RULES, HIDE_HUNTING, "session-rule-2")
    plain = post(client, RULES, HIDE_HUNTING, None)

    # Then both are refused as CSRF failures (403, not 401), nothing is written or recorded
    assert keyed.status_code == 403, keyed.content
    assert plain.status_code == 403
    assert Rule.objects.count() == 0 and IdempotencyRecord.objects.count() == 0
    # And the session was not logged out by the refusal
    assert client.get("/api/v1/markets/AU/rules/").status_code == 200
