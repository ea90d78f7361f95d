"""Template helpers for the portal: market-local times, state badges, before/after diffs."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from content.selectors import tag_slugs

register = template.Library()

_FORMAT = "%d %b %Y, %H:%M"


def _zone(where: Any) -> ZoneInfo:
    name = getattr(where, "timezone", where) or "UTC"
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


@register.filter
def market_time(value: datetime | None, where: Any = "UTC") -> SafeString | str:
    """Show `value` in the market's (or zone name's) time, with UTC in the hover title."""
    if not isinstance(value, datetime):
        return "—"
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    utc = aware.astimezone(UTC)
    local = aware.astimezone(_zone(where))
    return format_html(
        '<time datetime="{}" title="{} UTC">{} {}</time>',
        utc.isoformat(timespec="seconds"),
        utc.strftime("%Y-%m-%d %H:%M"),
        local.strftime(_FORMAT),
        local.tzname() or "",
    )


@register.filter
def iso_time(value: Any, where: Any = "UTC") -> SafeString | str:
    """Like market_time, for ISO-8601 strings stored in audit snapshots."""
    if not isinstance(value, str):
        return "—" if value is None else str(value)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value
    return market_time(parsed, where)


# The resolver's precedence steps (DESIGN "Groups, rights and binding rules"), as editors say them.
STEP_LABELS = {
    0: "rights",
    1: "binding rule",
    2: "market position",
    3: "group position",
    4: "hide rule",
    5: "promote rule",
    6: "market default",
}


@register.filter
def decided_by(decision: Any, market: Any = None) -> str:
    """ "Step 3, group position · group DACH": which step decided and whose rule or position it was."""
    step = getattr(decision, "step", None)
    if step is None:
        return ""
    text = f"Step {step}, {STEP_LABELS.get(step, '')}"
    source = getattr(decision, "source", "")
    code = getattr(market, "code", market)
    if source and source != code:
        text += f" · group {source}"
    if getattr(decision, "binding", False):
        text += " (binding)"
    return text


@register.filter
def badge_class(state: str) -> str:
    """Return the CSS class of a state badge (unknown states look neutral)."""
    known = {"hidden", "shown", "promoted", "pinned", "visible", "default"}
    return state if state in known else "default"


_TIME_KEYS = {"starts_at", "ends_at", "published_at", "created_at", "updated_at"}


def _blank(value: Any) -> bool:
    return value is None or value == "" or value == []


@register.simple_tag
def audit_diff(before: Any, after: Any) -> list[dict[str, Any]]:
    """Return the rows worth showing for an audit entry: on a change, the fields that changed;
    on a creation or deletion, the fields that have a value. Keys: field, before, after,
    changed, is_time."""
    before_map = before if isinstance(before, dict) else {}
    after_map = after if isinstance(after, dict) else {}
    keys = list(dict.fromkeys([*before_map, *after_map]))
    rows = []
    for key in keys:
        old, new = before_map.get(key), after_map.get(key)
        if _blank(old) and _blank(new):
            continue
        if before is not None and after is not None and old == new:
            continue
        rows.append(
            {"field": key, "before": old, "after": new, "changed": old != new, "is_time": key in _TIME_KEYS}
        )
    return rows


@register.filter
def show_value(value: Any) -> str:
    """Render a snapshot value readably: lists joined, empty as a dash."""
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


@register.filter
def get_item(mapping: Any, key: Any) -> Any:
    """Return mapping[key], or None (templates cannot index a dict by a variable)."""
    if isinstance(mapping, dict):
        return mapping.get(key)
    return None


_DETAIL_PREFIX: list[str] = []


def _detail_url(upstream_id: str) -> str:
    # Reversing once and appending the quoted id is what {% url %} would produce, without
    # resolving the pattern again for each of the page's rows.
    if not _DETAIL_PREFIX:
        from django.urls import reverse

        _DETAIL_PREFIX.append(reverse("content:detail", args=["~"]).rsplit("~", 1)[0])
    return _DETAIL_PREFIX[0] + quote(upstream_id, safe="") + "/"


def _time_html(value: datetime | None, zone: ZoneInfo) -> str:
    if value is None:
        return "—"
    utc = value.astimezone(UTC)
    local = value.astimezone(zone)
    return (
        f'<time datetime="{utc.isoformat(timespec="seconds")}" title="{utc:%Y-%m-%d %H:%M} UTC">'
        f"{local.strftime(_FORMAT)} {local.tzname() or ''}</time>"
    )


@register.simple_tag
def board_rows(rows: Any, market: Any, selectable: bool, now: datetime) -> SafeString:
    """Render the board's rows (item, state) in Python with the standard library's escaping: at
    200 rows a page, a template loop (or format_html) costs more than the page's queries. The
    markup matches the rest of the portal (market_time, badges, reasons)."""
    zone = _zone(market)
    parts = []
    for item, state in rows:
        title = escape(item.title)
        upstream_id = escape(item.upstream_id)
        check = ""
        if selectable:
            check = (
                f'<input type="checkbox" name="item" value="{item.pk}" form="bulk-form" '
                f'aria-label="Select {title}">'
            )
        tags = "".join(f'<span class="tag">{escape(slug)}</span>' for slug in tag_slugs(item))
        verdict = ""
        if state is not None:
            decision = state.decision
            verdict = (
                f'<span class="badge {badge_class(decision.state)}">{escape(decision.state)}</span>'
                f'<span class="why">{escape(decision.reason)}</span>'
                f'<span class="sub decided">{escape(decided_by(decision, market))}</span>'
            )
            position = state.position
            if position is not None and position.state != "default" and decision.step != 2:
                if position.starts_at is not None and position.starts_at > now:
                    when = f"from {_time_html(position.starts_at, zone)}"
                else:
                    when = f"ended {_time_html(position.ends_at, zone)}"
                verdict += f'<span class="note">Position {escape(position.state)} {when}</span>'
        parts.append(
            f"<tr><td>{check}</td>"
            f'<td><a class="item-title" href="{escape(_detail_url(item.upstream_id))}">{title}</a>'
            f'<span class="sub mono">{upstream_id}</span></td>'
            f"<td>{escape(item.get_content_type_display())}</td>"
            f'<td>{escape(item.source)}<span class="sub">{escape(item.language)}</span></td>'
            f'<td class="small">{_time_html(item.published_at, zone)}</td>'
            f"<td>{tags}</td><td>{verdict}</td></tr>"
        )
    return SafeString("\n".join(parts))
