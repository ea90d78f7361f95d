"""Schemathesis over /api/schema/: every operation, a token of every role, no 5xx, answers as documented.

Positive and negative data in the coverage and fuzzing phases, and short stateful sequences.

The app is called in-process through its WSGI handler (the real middleware, auth, views and
database), so each example runs inside the test's transaction and sees the seeded data.
Bounded and deterministic (derandomized, a few examples per operation) so CI stays stable.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.models import Membership, Role, User
from accounts.services import api_token_create
from markets.models import Market
from portal.wsgi import application
from tests.factories import ContentItemFactory, MarketFactory, RuleFactory, TagFactory, UserFactory

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db]

MAX_EXAMPLES = 6  # per operation and role: ≈ 100 operations × 3 roles


def _openapi_document() -> dict[str, Any]:
    """The document `/api/schema/` serves (which now needs a signed-in caller), generated in-process."""
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    return json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))


schema = schemathesis.openapi.from_dict(_openapi_document())
schema.app = application
schema.location = "/api/schema/"
# Said explicitly rather than left to schemathesis' defaults: the coverage phase (boundary and
# just-out-of-bounds values of every parameter) and the fuzzing phase, each with positive *and*
# negative data (wrong types, values outside the schema), then stateful sequences (below).
schema.config.phases.update(phases=["examples", "coverage", "fuzzing", "stateful"])
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])

# Three callers: an admin reaches every operation's validation and writes; a manager of AU
# alone reaches them in AU and is refused elsewhere; a token with no role is refused everywhere.
# Every role's access to every operation is asserted, deterministically, in
# tests/api/test_access_matrix.py; fuzzing editors and reviewers as well cost CI ≈ 6 minutes.
ROLES: dict[str, list[tuple[str, str | None]]] = {
    "admin": [(Role.ADMIN, None)],
    "au-manager": [(Role.MARKET_MANAGER, "AU")],
    "no-role": [],
}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def seed() -> dict[str, Market]:
    """A few markets, tags, items, rules and positions: enough for real paths to answer 2xx."""
    markets = {
        "AU": MarketFactory(code="AU", name="Australia", timezone="Australia/Sydney"),
        "DE": MarketFactory(code="DE", name="Germany", languages=["de"], timezone="Europe/Berlin"),
        "AU-OPTUS": MarketFactory(
            code="AU-OPTUS", name="Optus", timezone="Australia/Sydney", default_visibility="opt_in"
        ),
    }
    for slug in ("ocean", "hunting", "wildlife"):
        TagFactory(slug=slug)
    ContentItemFactory(upstream_id="vid-ocean", content_type="video", tag_slugs=["ocean"])
    ContentItemFactory(upstream_id="art-hunt", content_type="article", tag_slugs=["hunting"])
    RuleFactory(market=markets["DE"], action="hide", match_tags=["hunting"])
    return markets


def token_for(role: str, markets: dict[str, Market]) -> str:
    user: User = UserFactory(username=f"fuzz-{role}")
    for grant, code in ROLES[role]:
        Membership.objects.create(user=user, role=grant, market=markets[code] if code else None)
    return api_token_create(actor=user, user=user, name="fuzz").secret


@pytest.fixture(autouse=True)
def keep_the_test_connection() -> Iterator[None]:
    """Stop the plain WSGI handler from closing the test's database connection after each request.

    Django's own test client does the same: `close_old_connections` runs on every request's start
    and end and closes a connection that is inside a transaction, which here is the test's own
    (on PostgreSQL the next query then fails with "the connection is closed").
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture(params=list(ROLES))
def auth_header(request: pytest.FixtureRequest, db: None) -> dict[str, str]:
    """Seeded data and the `Authorization` header of a token of one role (each role a test of its own)."""
    return {"Authorization": f"Token {token_for(request.param, seed())}"}


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_answers_as_documented_and_never_500(case: Any, auth_header: dict[str, str]) -> None:
    case.call_and_validate(headers=auth_header, checks=CHECKS)


# Stateful: sequences of calls that reuse what earlier answers returned (ids, codes), with the
# links schemathesis infers from the schema, as each role. Bounded: a few short scenarios.
STATEFUL_SETTINGS = settings(
    max_examples=3,
    stateful_step_count=5,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def test_stateful_sequences_never_500(auth_header: dict[str, str]) -> None:
    machine = schema.as_state_machine()

    class Workflow(machine):  # type: ignore[valid-type,misc]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": auth_header}

        def validate_response(self, response: Any, case: Any, *args: Any, **kwargs: Any) -> None:
            assert response.status_code < 500, (case.method, case.formatted_path, response.status_code)

    Workflow.run(settings=STATEFUL_SETTINGS)
