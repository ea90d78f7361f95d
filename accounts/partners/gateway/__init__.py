"""Gateway adapters for usage plans and partner keys, chosen by `settings.GATEWAY_BACKEND`:
"local" (the portal enforces plans itself; the default) or "apigateway" (boto3)."""

from __future__ import annotations

from django.conf import settings

from accounts.partners.gateway.base import Gateway, GatewayError, SecretUnavailable

__all__ = ["Gateway", "GatewayError", "SecretUnavailable", "get_gateway", "set_gateway"]

_instances: dict[str, Gateway] = {}
_override: Gateway | None = None


def get_gateway() -> Gateway:
    """Return the configured backend (one instance per process and backend name)."""
    if _override is not None:
        return _override
    name = settings.GATEWAY_BACKEND
    if name not in _instances:
        if name == "apigateway":
            from accounts.partners.gateway.apigateway import ApiGatewayBackend

            _instances[name] = ApiGatewayBackend()
        elif name == "local":
            from accounts.partners.gateway.local import LocalGateway

            _instances[name] = LocalGateway()
        else:
            raise ValueError(f"Unknown GATEWAY_BACKEND {name!r}: use 'local' or 'apigateway'.")
    return _instances[name]


def set_gateway(gateway: Gateway | None) -> None:
    """Use `gateway` instead of the configured backend (tests); None restores the setting."""
    global _override
    _override = gateway
    _instances.clear()
