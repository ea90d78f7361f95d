"""Template helpers: market-local times with UTC on hover, audit diffs."""

from __future__ import annotations

from datetime import UTC, datetime

from markets.models import Market
from portal.templatetags.portal_ui import audit_diff, iso_time, market_time, show_value


def test_market_time_shows_local_time_with_utc_in_the_title() -> None:
    value = datetime(2026, 7, 1, 8, 30, tzinfo=UTC)
    html = market_time(value, Market(timezone="Australia/Sydney"))
    assert html == (
        '<time datetime="2026-07-01T08:30:00+00:00" title="2026-07-01 08:30 UTC">'
        "01 Jul 2026, 18:30 AEST</time>"
    )
    assert "10:30 CEST" in market_time(value, "Europe/Berlin")
    assert "08:30 UTC" in market_time(value, None)
    assert market_time(None, "UTC") == "—"
    assert "08:30 UTC" in market_time(value, "Not/AZone")


def test_iso_time_reads_audit_snapshots() -> None:
    assert "18:30 AEST" in iso_time("2026-07-01T08:30:00+00:00", "Australia/Sydney")
    assert iso_time(None) == "—"
    assert iso_time("not a time") == "not a time"


def test_audit_diff_keeps_what_changed() -> None:
    rows = audit_diff(
        {"state": "hidden", "boost": 0, "reason": ""}, {"state": "promoted", "boost": 3, "reason": ""}
    )
    assert [(r["field"], r["before"], r["after"]) for r in rows] == [
        ("state", "hidden", "promoted"),
        ("boost", 0, 3),
    ]
    created = audit_diff(None, {"state": "hidden", "slot": None, "starts_at": "2026-01-01T00:00:00+00:00"})
    assert [(r["field"], r["is_time"]) for r in created] == [("state", False), ("starts_at", True)]


def test_show_value() -> None:
    assert show_value(["a", "b"]) == "a, b"
    assert show_value(None) == "—" and show_value([]) == "—"
    assert show_value(True) == "yes"
