"""Times as a reader of the page sees them: in the item's own zone, in a chosen zone, in UTC.

Pure (no clock: `now` is an argument). The page writes these on the server, so without
JavaScript a reader still sees the item's zone and UTC; the page's script adds the viewer's
zone from the same UTC instant (`datetime` attribute of each <time>).
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from tracker.web.listing import Entry

COUNTDOWN_DAYS = 14


def zone_label(tz: str) -> str:
    """'America/New_York' -> 'New York', 'UTC' -> 'UTC': the city a reader recognises."""
    return tz.rsplit("/", 1)[-1].replace("_", " ")


def clock(utc: datetime, tz: str, *, with_date: bool = True) -> str:
    """'Mon 22 Mar 2027, 12:00 Vienna (CET)', or '12:00 Vienna (CET)' without the date."""
    local = utc.astimezone(ZoneInfo(tz))
    day = f"{local:%a} {local.day} {local:%b %Y}, " if with_date else ""
    abbreviation = local.tzname()
    shown = "" if not abbreviation or abbreviation == zone_label(tz) else f" ({abbreviation})"
    return f"{day}{local:%H:%M} {zone_label(tz)}{shown}"


def same_day(a: datetime, b: datetime, tz_a: str, tz_b: str) -> bool:
    return a.astimezone(ZoneInfo(tz_a)).date() == b.astimezone(ZoneInfo(tz_b)).date()


def other_clock(utc: datetime, own_tz: str, tz: str) -> str:
    """The instant in `tz`, with its date only when that differs from the own zone's date."""
    return clock(utc, tz, with_date=not same_day(utc, utc, own_tz, tz))


def day_text(day: date) -> str:
    return f"{day:%a} {day.day} {day:%b %Y}"


def when_own(entry: Entry) -> str:
    """When the item happens, in its own zone: what the secretary typed, read back."""
    if entry.all_day and entry.start_date and entry.end_date:
        if entry.start_date == entry.end_date:
            return f"{day_text(entry.start_date)} (all day, {zone_label(entry.tz)})"
        return (f"{day_text(entry.start_date)} – {day_text(entry.end_date)} "
                f"(all day, {zone_label(entry.tz)})")
    if entry.due_date is not None:
        local = entry.start_utc.astimezone(ZoneInfo(entry.tz))
        return (f"{day_text(entry.due_date)}, end of the day in {zone_label(entry.tz)} "
                f"({local:%H:%M} {local.tzname()})")
    text = clock(entry.start_utc, entry.tz)
    if not entry.is_deadline and entry.end_utc > entry.start_utc:
        if same_day(entry.start_utc, entry.end_utc, entry.tz, entry.tz):
            end = entry.end_utc.astimezone(ZoneInfo(entry.tz))
            text = clock(entry.start_utc, entry.tz).replace(
                f" {zone_label(entry.tz)}", f"–{end:%H:%M} {zone_label(entry.tz)}", 1)
        else:
            text += f" – {clock(entry.end_utc, entry.tz)}"
    return text


def countdown(due_utc: datetime, now: datetime, days: int = COUNTDOWN_DAYS) -> str | None:
    """'closes in 9 days, 4 hours' for a deadline within `days`; None further out or past."""
    left = due_utc - now
    seconds = int(left.total_seconds())
    if seconds < 0 or left.days >= days:
        return None
    d, rest = divmod(seconds, 86400)
    h, rest = divmod(rest, 3600)
    m = rest // 60
    parts = []
    if d:
        parts.append(f"{d} day{'s' if d != 1 else ''}")
    if h or d:
        parts.append(f"{h} hour{'s' if h != 1 else ''}")
    if not d:
        parts.append(f"{m} minute{'s' if m != 1 else ''}")
    return "closes in " + ", ".join(parts)

