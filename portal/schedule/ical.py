"""Writing iCalendar (RFC 5545) text for the schedule's calendar feeds.

Small on purpose: one VCALENDAR of point-in-time VEVENTs in UTC. Text is escaped (backslash,
semicolon, comma, newline) and lines are folded at 75 octets, as the RFC requires, with CRLF.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from portal.schedule.selectors import KIND_LABELS, ScheduleEvent

PRODID = "-//Meridian//Schedule//EN"
# Calendars draw a zero-length event as a line; a quarter of an hour is easy to see and tap.
EVENT_LENGTH = timedelta(minutes=15)


def _escape(text: str) -> str:
    return (
        text.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
        .replace("\r", "\\n")
    )


def _fold(line: str) -> str:
    """Fold a content line into chunks of at most 75 octets, never splitting a UTF-8 character."""
    out: list[str] = []
    current, size = "", 0
    for char in line:
        width = len(char.encode())
        limit = 75 if not out else 74  # continuation lines start with one space
        if size + width > limit:
            out.append(current)
            current, size = "", 0
        current += char
        size += width
    out.append(current)
    return "\r\n ".join(out)


def _stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def calendar_text(*, name: str, events: Iterable[ScheduleEvent], host: str, now: datetime) -> str:
    """Return the iCalendar text of `events` (a calendar called `name`; UIDs end in `@host`)."""
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{_escape(name)}",
        # How often calendar apps should fetch it again (they may poll less often).
        "REFRESH-INTERVAL;VALUE=DURATION:PT1H",
        "X-PUBLISHED-TTL:PT1H",
    ]
    for event in events:
        where = f"group {event.market_code} (UTC)" if event.is_group else event.market_code
        detail = f"{KIND_LABELS[event.kind]} in {where}."
        if event.detail:
            detail += f" {event.detail}"
        lines += [
            "BEGIN:VEVENT",
            f"UID:{_escape(event.uid)}@{host}",
            f"DTSTAMP:{_stamp(now)}",
            f"SEQUENCE:{event.sequence}",
            f"DTSTART:{_stamp(event.at)}",
            f"DTEND:{_stamp(event.at + EVENT_LENGTH)}",
            f"SUMMARY:{_escape(f'{event.market_code}: {event.title}')}",
            f"DESCRIPTION:{_escape(detail)}",
            f"CATEGORIES:{_escape(KIND_LABELS[event.kind])}",
            "TRANSP:TRANSPARENT",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "".join(_fold(line) + "\r\n" for line in lines)
