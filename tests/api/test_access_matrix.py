"""Every endpoint × every role: who is allowed (2xx) and who is refused (401/403/404).

Roles (tests/conftest.py): admin; editor of every market; editor of AU; market manager of AU and
AU-OPTUS; reviewer; a user with no role; and an anonymous caller.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from accounts.models import ApiToken
from accounts.services import api_token_create
from markets.models import Market, Rule
from tests.factories import RuleFactory

ROLES = ["admin_user", "editor", "au_editor", "au_manager", "reviewer", "nobody", None]


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    url: str
    # admin, editor, au_editor, au_manager, reviewer, nobody, anonymous
    expected: tuple[int, int, int, int, int, int, int]
    body: Any = None


VIEW_AU = (200, 200, 200, 200, 403, 403, 401)
VIEW_DE = (200, 200, 403, 403, 403, 403, 401)
CONTENT = (200, 200, 200, 200, 403, 403, 401)
POS_AU = (200, 200, 200, 200, 403, 403, 401)
POS_DE = (200, 200, 403, 403, 403, 403, 401)
RULES_AU = (201, 403, 403, 201, 403, 403, 401)
RULES_DE = (201, 403, 403, 403, 403, 403, 401)
RULE_EDIT_AU = (200, 403, 403, 200, 403, 403, 401)
RULE_EDIT_DE = (200, 403, 403, 403, 403, 403, 401)
RULE_DELETE_AU = (204, 403, 403, 204, 403, 403, 401)
RULE_DELETE_DE = (204, 403, 403, 403, 403, 403, 401)
ANYONE = (200, 200, 200, 200, 200, 200, 401)

ROW = {
    "upstream_id": "new-1",
    "content_type": "video",
    "title": "Reef at night",
    "source": "natgeo-editorial",
    "language": "en",
    "published_at": "2026-02-01T10:00:00Z",
}

CASES = [
    Case("markets list", "get", "/api/v1/markets/", VIEW_AU),
    Case("market AU", "get", "/api/v1/markets/AU/", VIEW_AU),
    Case("market DE", "get", "/api/v1/markets/DE/", VIEW_DE),
    Case("market missing", "get", "/api/v1/markets/ZZ/", (404, 404, 404, 404, 404, 404, 401)),
    Case("market AU patch", "patch", "/api/v1/markets/AU/", RULE_EDIT_AU, {"name": "Australia (AU)"}),
    Case("market DE patch", "patch", "/api/v1/markets/DE/", RULE_EDIT_DE, {"name": "Deutschland"}),
    Case("rules AU", "get", "/api/v1/markets/AU/rules/", VIEW_AU),
    Case("rules DE", "get", "/api/v1/markets/DE/rules/", VIEW_DE),
    Case(
        "rule AU create",
        "post",
        "/api/v1/markets/AU/rules/",
        RULES_AU,
        # Not the world's rule again: an identical rule is refused.
        {"action": "hide", "match_tags": ["hunting"], "match_content_types": ["video"]},
    ),
    Case(
        "rule DE create",
        "post",
        "/api/v1/markets/DE/rules/",
        RULES_DE,
        # Not the world's rule again: an identical rule is refused.
        {"action": "hide", "match_tags": ["hunting"], "match_content_types": ["video"]},
    ),
    Case("rule AU read", "get", "/api/v1/markets/AU/rules/{au_rule}/", VIEW_AU),
    Case("rule DE read", "get", "/api/v1/markets/DE/rules/{de_rule}/", VIEW_DE),
    Case("rule AU patch", "patch", "/api/v1/markets/AU/rules/{au_rule}/", RULE_EDIT_AU, {"note": "legal"}),
    Case("rule DE patch", "patch", "/api/v1/markets/DE/rules/{de_rule}/", RULE_EDIT_DE, {"note": "legal"}),
    Case(
        "rule AU put",
        "put",
        "/api/v1/markets/AU/rules/{au_rule}/",
        RULE_EDIT_AU,
        {"action": "promote", "boost": 2, "match_content_types": ["video"]},
    ),
    Case(
        "rule DE put",
        "put",
        "/api/v1/markets/DE/rules/{de_rule}/",
        RULE_EDIT_DE,
        {"action": "promote", "boost": 2, "match_content_types": ["video"]},
    ),
    Case("rule AU delete", "delete", "/api/v1/markets/AU/rules/{au_rule}/", RULE_DELETE_AU),
    Case("rule DE delete", "delete", "/api/v1/markets/DE/rules/{de_rule}/", RULE_DELETE_DE),
    Case("content list", "get", "/api/v1/content/", CONTENT),
    Case("content read", "get", "/api/v1/content/vid-ocean/", CONTENT),
    Case(
        "content filtered by DE state",
        "get",
        "/api/v1/content/?market=DE&state=hidden",
        (200, 200, 403, 403, 403, 403, 401),
    ),
    Case(
        "bulk upsert",
        "post",
        "/api/v1/content/bulk-upsert/",
        (200, 200, 200, 403, 403, 403, 401),
        {"items": [ROW]},
    ),
    Case(
        "item tags",
        "post",
        "/api/v1/content/vid-ocean/tags/",
        (200, 200, 200, 403, 403, 403, 401),
        {"add": ["wildlife"]},
    ),
    Case("tags list", "get", "/api/v1/tags/", CONTENT),
    Case("tag create", "post", "/api/v1/tags/", (201, 201, 201, 403, 403, 403, 401), {"slug": "polar"}),
    Case("positions AU", "get", "/api/v1/markets/AU/positions/", VIEW_AU),
    Case("positions DE", "get", "/api/v1/markets/DE/positions/", VIEW_DE),
    Case("position AU read", "get", "/api/v1/markets/AU/positions/vid-ocean/", VIEW_AU),
    Case("position DE read", "get", "/api/v1/markets/DE/positions/vid-ocean/", VIEW_DE),
    Case("position AU put", "put", "/api/v1/markets/AU/positions/vid-ocean/", POS_AU, {"state": "hidden"}),
    Case("position DE put", "put", "/api/v1/markets/DE/positions/vid-ocean/", POS_DE, {"state": "hidden"}),
    Case("position AU reset", "delete", "/api/v1/markets/AU/positions/vid-ocean/", POS_AU),
    Case("position DE reset", "delete", "/api/v1/markets/DE/positions/vid-ocean/", POS_DE),
    Case(
        "positions AU bulk",
        "post",
        "/api/v1/markets/AU/positions/bulk/",
        POS_AU,
        {"content_ids": ["vid-ocean"], "state": "hidden"},
    ),
    Case(
        "positions DE bulk",
        "post",
        "/api/v1/markets/DE/positions/bulk/",
        POS_DE,
        {"content_ids": ["vid-ocean"], "state": "hidden"},
    ),
    Case("resolve AU", "get", "/api/v1/markets/AU/resolve?content_id=vid-ocean", VIEW_AU),
    Case("resolve DE", "get", "/api/v1/markets/DE/resolve?content_id=vid-ocean", VIEW_DE),
    Case("tokens list", "get", "/api/v1/tokens/", ANYONE),
    Case("token create", "post", "/api/v1/tokens/", (201, 201, 201, 201, 201, 201, 401), {"name": "script"}),
    Case("own token revoke", "delete", "/api/v1/tokens/{own_token}/", (204, 204, 204, 204, 204, 204, 401)),
]


@pytest.fixture
def world(markets: dict[str, Market], items: Any) -> dict[str, Any]:
    return {
        "au_rule": RuleFactory(market=markets["AU"], action="hide", match_tags=["hunting"]).pk,
        "de_rule": RuleFactory(market=markets["DE"], action="hide", match_tags=["hunting"]).pk,
    }


@pytest.mark.django_db
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
@pytest.mark.parametrize("role_index", range(len(ROLES)), ids=[r or "anonymous" for r in ROLES])
def test_endpoint_answers_each_role_as_access_allows(
    case: Case,
    role_index: int,
    world: dict[str, Any],
    client_for: Callable[[str | None], Any],
    request: pytest.FixtureRequest,
) -> None:
    # Given a caller with one role (or none), and every user of the table existing
    role = ROLES[role_index]
    users = {r: request.getfixturevalue(r) for r in ROLES if r}
    client = client_for(role)
    own_token: ApiToken | None = None
    if role is not None:
        own_token = api_token_create(actor=None, user=users[role], name="mine").token
    url = case.url.format(**world, own_token=own_token.pk if own_token else 999_999)

    # When it calls the endpoint
    response = getattr(client, case.method)(url, case.body, format="json")

    # Then the answer is what its role allows
    assert response.status_code == case.expected[role_index], response.content[:300]


@pytest.mark.django_db
def test_refusal_changes_nothing(world: dict[str, Any], client_for: Callable[[str | None], Any]) -> None:
    # Given the AU market manager
    client = client_for("au_manager")
    before = list(Rule.objects.values()), list(Market.objects.values())

    # When they try to change DE's rules and settings
    client.post("/api/v1/markets/DE/rules/", {"action": "hide", "match_tags": ["hunting"]}, format="json")
    client.patch(f"/api/v1/markets/DE/rules/{world['de_rule']}/", {"note": "x"}, format="json")
    client.delete(f"/api/v1/markets/DE/rules/{world['de_rule']}/")
    response = client.patch("/api/v1/markets/DE/", {"name": "x"}, format="json")

    # Then they are told why, and nothing changed
    assert response.status_code == 403
    assert "DE" in response.json()["detail"]
    assert (list(Rule.objects.values()), list(Market.objects.values())) == before
