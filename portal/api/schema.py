"""drf-spectacular postprocessing: the error answers every API operation can give, documented once.

Every operation under /api/v1/ needs credentials (401) and a role in the market it names (403);
one that takes query parameters, a body or headers may refuse them (400); one with path
parameters may name nothing (404). Annotating each view with these would repeat the same lines
57 times and drift; views still document their specific errors (412, 400 details) themselves.
"""

from __future__ import annotations

from typing import Any

ERROR_SCHEMA = {
    "type": "object",
    "description": 'Field errors `{"<field>": ["message", …]}` or `{"detail": "message"}`.',
    "additionalProperties": True,
}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ERROR_SCHEMA}}}


def document_common_errors(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """Add 400/401/403/404 to the operations under /api/v1/ that can answer them."""
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/api/v1/"):
            continue
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            parameters = operation.get("parameters", [])
            responses.setdefault("401", _error("No, unknown, expired or revoked credentials."))
            responses.setdefault("403", _error("Not allowed for your role or in this market."))
            if parameters or "requestBody" in operation:
                responses.setdefault("400", _error("Bad input: field errors."))
            if any(p.get("in") == "path" for p in parameters):
                responses.setdefault("404", _error("No such object."))
    return result
