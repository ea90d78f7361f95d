"""Notification pages (`/notifications/`): a user's own inbox, bell and preferences; the admins'
role defaults and webhook endpoints. Thin: parse, call one selector or service, render."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from accounts.roles import Role
from portal.notifications import selectors, services
from portal.notifications.forms import ChannelsForm, WebhookForm
from portal.notifications.models import EventKind
from portal.pages import actor_of, page, portal_view, safe_next

PAGE_SIZE = 100


@portal_view
@require_safe
def inbox(request: HttpRequest) -> HttpResponse:
    """The user's own notifications, newest first; filter by unread and by kind."""
    unread_only = request.GET.get("unread") == "1"
    kind = request.GET.get("kind", "")
    kind = kind if kind in EventKind.values else ""
    receipts = list(selectors.inbox(user=request.user, unread_only=unread_only, kind=kind)[:PAGE_SIZE])
    return page(
        request,
        "notifications/inbox.html",
        {
            "receipts": receipts,
            "unread_only": unread_only,
            "kind": kind,
            "kinds": EventKind.choices,
            "unread": selectors.unread_count(user=request.user),
        },
        fragment="notifications/_inbox_results.html",
    )


@portal_view
@require_safe
def bell(request: HttpRequest) -> HttpResponse:
    """The header's bell with the unread count (polled by HTMX)."""
    return render(request, "notifications/_bell.html", {"unread": selectors.unread_count(user=request.user)})


@portal_view
@require_POST
def open_notification(request: HttpRequest, receipt_id: int) -> HttpResponse:
    """Mark one of the user's notifications read and go to the page that resolves it."""
    receipt = selectors.receipt_get(user=request.user, pk=receipt_id)
    services.receipts_mark_read(user=actor_of(request), receipt_ids=[receipt.pk])
    return redirect(safe_next(request, receipt.notification.link, "notifications:inbox"))


@portal_view
@require_POST
def read_all(request: HttpRequest) -> HttpResponse:
    """Mark all the user's notifications read."""
    count = services.receipts_mark_read(user=actor_of(request))
    messages.success(request, f"{count} notification(s) marked read.")
    return redirect("notifications:inbox")


@portal_view
@require_http_methods(["GET", "HEAD", "POST"])
def preferences(request: HttpRequest) -> HttpResponse:
    """The user's channels per event kind."""
    rows = selectors.preferences_for(user=request.user)
    form = ChannelsForm(rows, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        services.preferences_set(user=actor_of(request), choices=form.choices())
        messages.success(request, "Your notification preferences are saved.")
        return redirect("notifications:preferences")
    return render(request, "notifications/preferences.html", {"form": form, "rows": rows})


@portal_view
@require_http_methods(["GET", "HEAD", "POST"])
def defaults(request: HttpRequest) -> HttpResponse:
    """Admins: each role's default channels per event kind."""
    by_role = selectors.role_defaults(user=request.user)
    role = request.GET.get("role") or request.POST.get("role") or Role.ADMIN
    role = role if role in by_role else Role.ADMIN
    form = ChannelsForm(by_role[role], request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        services.role_defaults_set(actor=actor_of(request), role=role, choices=form.choices())
        messages.success(request, f"Defaults for {Role(role).label} saved.")
        return redirect(f"{request.path}?role={role}")
    return render(
        request,
        "notifications/defaults.html",
        {"form": form, "rows": by_role[role], "role": role, "roles": Role.choices},
    )


@portal_view
@require_http_methods(["GET", "HEAD", "POST"])
def webhooks(request: HttpRequest) -> HttpResponse:
    """Admins: the webhook endpoints, and registering one (its secret is shown once)."""
    endpoints = list(selectors.webhook_endpoints(user=request.user))
    form = WebhookForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            endpoint, secret = services.webhook_endpoint_create(actor=actor_of(request), **form.cleaned_data)
        except services.WebhookRefused as exc:
            form.add_error("url" if "URL" in str(exc) or "host" in str(exc) else None, str(exc))
        else:
            context = {"endpoint": endpoint, "secret": secret}
            return render(request, "notifications/webhook_created.html", context)
    return render(
        request,
        "notifications/webhooks.html",
        {"endpoints": endpoints, "form": form, "dead": selectors.webhook_dead_count(user=request.user)},
    )


@portal_view
@require_safe
def webhook_detail(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    """Admins: one endpoint and its delivery log."""
    endpoint = selectors.webhook_endpoint_get(user=request.user, pk=endpoint_id)
    deliveries = selectors.webhook_deliveries(user=request.user, endpoint=endpoint)
    return render(request, "notifications/webhook.html", {"endpoint": endpoint, "deliveries": deliveries})


@portal_view
@require_POST
def webhook_test(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    """Admins: send a test event to the endpoint."""
    endpoint = selectors.webhook_endpoint_get(user=request.user, pk=endpoint_id)
    services.webhook_send_test(actor=actor_of(request), endpoint=endpoint)
    messages.success(request, "A test event is on its way: its attempt appears in the log below.")
    return redirect("notifications:webhook", endpoint_id=endpoint.pk)


@portal_view
@require_POST
def webhook_delete(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    """Admins: remove an endpoint and its log."""
    endpoint = selectors.webhook_endpoint_get(user=request.user, pk=endpoint_id)
    services.webhook_endpoint_delete(actor=actor_of(request), endpoint=endpoint)
    messages.success(request, f"Webhook {endpoint.name} removed.")
    return redirect("notifications:webhooks")


@portal_view
@require_POST
def delivery_retry(request: HttpRequest, delivery_id: int) -> HttpResponse:
    """Admins: send a dead delivery again."""
    delivery = selectors.webhook_delivery_get(user=request.user, pk=delivery_id)
    if services.webhook_delivery_retry(actor=actor_of(request), delivery=delivery):
        messages.success(request, "The delivery is queued again.")
    else:
        messages.warning(request, "That delivery is not a dead letter (any more): nothing to retry.")
    return redirect("notifications:webhook", endpoint_id=delivery.endpoint_id)
