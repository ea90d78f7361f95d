"""The event kinds: the one registry a new kind of notification is added to (docs/notifications.md,
"Adding an event kind").

Each kind is a member of `EventKind` (its stored value and the label the inbox, the preference
page and the webhook form show) and an entry in `KINDS` (who may receive it, and whether it is
opt-in). Nothing else lists kinds: the preference and default pages, the webhook form, the API's
filter and the recipient rules all read these two, and the database stores the value as plain
text (no choices, so a new kind needs no migration). tests/notifications/test_kinds.py fails when
a member has no entry.

An event then comes from a detector in `checks.py` (a state the scheduled job finds: a quota, a
backlog) or from the service where it happens, calling `services.notifications_raise` with an
`Occurrence` (a change request submitted, approved...).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models

from accounts.access import Action


class EventKind(models.TextChoices):
    QUOTA = "partner_quota", "Partner quota passed 50 / 80 / 100 %"
    KEY_EXPIRING = "key_expiring", "Partner key expires within 7 days"
    KEY_EXPIRED = "key_expired", "Partner key expired"
    GATEWAY_SYNC = "gateway_sync_failed", "Gateway sync failed"
    TRAFFIC_THROTTLED = "traffic_throttled", "Partner key throttled in many of its minutes"
    TRAFFIC_BURST = "traffic_burst", "Partner key's burst near its limit"
    TRAFFIC_JUMP = "traffic_jump", "Partner key's traffic jumped against its past week"
    DEAD_LETTERS = "publish_dead_letters", "Publishing dead letters"
    OUTBOX_BACKLOG = "outbox_backlog", "Publishing backlog is old"
    LABEL_QUEUE = "label_queue", "Label review queue is long or old"
    LABEL_JOBS = "label_jobs_failed", "Labelling jobs failed"
    MY_WINDOW = "my_window", "A window I set starts or ends within 24 hours"
    REQUEST_SUBMITTED = "request_submitted", "Change request waiting for my review"
    REQUEST_APPROVED = "request_approved", "My change request was approved"
    REQUEST_REJECTED = "request_rejected", "My change request was rejected"
    REQUEST_APPLIED = "request_applied", "A change request was applied"
    REQUEST_FAILED = "request_failed", "A change request failed to apply"


@dataclass(frozen=True)
class KindSpec:
    """Who may receive a kind, and how its channels default.

    `audience` is the access action a recipient needs, checked in the event's market when it names
    one (`accounts.access.can`); `audience_without_market` replaces it for events of the kind that
    name no market. An `opt_in` kind is off on every channel until the user switches it on for
    themselves (the admins' role defaults do not apply to it).
    """

    audience: Action
    audience_without_market: Action | None = None
    opt_in: bool = False


KINDS: dict[str, KindSpec] = {
    EventKind.QUOTA: KindSpec(Action.MANAGE_PARTNERS),
    EventKind.KEY_EXPIRING: KindSpec(Action.MANAGE_PARTNERS),
    EventKind.KEY_EXPIRED: KindSpec(Action.MANAGE_PARTNERS),
    EventKind.GATEWAY_SYNC: KindSpec(Action.MANAGE_PARTNERS),
    EventKind.TRAFFIC_THROTTLED: KindSpec(Action.MANAGE_PARTNERS),
    EventKind.TRAFFIC_BURST: KindSpec(Action.MANAGE_PARTNERS),
    EventKind.TRAFFIC_JUMP: KindSpec(Action.MANAGE_PARTNERS),
    # A market's dead letters are its people's (editors, managers, admins); content and image
    # rows name no market and are the publishing page's, which admins see.
    EventKind.DEAD_LETTERS: KindSpec(Action.VIEW_MARKET, audience_without_market=Action.MANAGE_MARKETS),
    EventKind.OUTBOX_BACKLOG: KindSpec(Action.MANAGE_MARKETS),
    EventKind.LABEL_QUEUE: KindSpec(Action.REVIEW_LABELS),
    EventKind.LABEL_JOBS: KindSpec(Action.REVIEW_LABELS),
    # Addressed to the author of the positions or rules, while they may still see the market.
    EventKind.MY_WINDOW: KindSpec(Action.VIEW_MARKET, opt_in=True),
    # Change requests: raised for named people (the market's reviewers, the author), who receive
    # them only while they may see the request's market.
    EventKind.REQUEST_SUBMITTED: KindSpec(Action.VIEW_MARKET),
    EventKind.REQUEST_APPROVED: KindSpec(Action.VIEW_MARKET),
    EventKind.REQUEST_REJECTED: KindSpec(Action.VIEW_MARKET),
    EventKind.REQUEST_APPLIED: KindSpec(Action.VIEW_MARKET),
    EventKind.REQUEST_FAILED: KindSpec(Action.VIEW_MARKET),
}


def webhook_kinds() -> list[tuple[str, str]]:
    """Return the (value, label) of the kinds webhook endpoints may subscribe to: not the opt-in
    ones, which are personal reminders rather than a team's business."""
    return [(kind.value, kind.label) for kind in EventKind if not KINDS[kind].opt_in]


def spec(kind: str) -> KindSpec:
    """Return the registry entry of `kind` (KeyError for a kind nobody registered)."""
    return KINDS[kind]
