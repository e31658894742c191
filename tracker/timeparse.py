"""Text -> aware instants, dates, zones and reminder offsets.

This is the only module where naive datetimes exist: they are built from the secretary's text
and given their zone before they leave. Everything else works on aware UTC instants plus the
IANA zone name they belong to.

Rules worth knowing:
- A time without an offset is wall-clock time in the given zone (``--tz`` or the configured
  default). An explicit offset (``+02:00``, ``Z``) is kept as the instant it names.
- A wall-clock time that does not exist (02:30 on the night Vienna springs forward) is refused.
- A wall-clock time that happens twice (02:30 on the night Vienna falls back) means the first
  occurrence, i.e. the one still on summer time (``fold=0``).
- ``noon`` is 12:00. ``midnight`` with a date (and ``24:00``) is the *end* of that date, because
  "register by midnight, 4 October" means the whole of 4 October is allowed: the instant is
  00:00 the next day, and ``When.end_of`` keeps the date, so a deadline due "4 Oct midnight" is
  the same as one due on 4 October (shown and published inside 4 October).
- Legacy tzdata names that are fixed offsets or US/European rules without a city (``EST``,
  ``MST``, ``HST``, ``EST5EDT``, ``CET``, ``MET``, ``WET``, ``EET``, ``PST8PDT`` ...) are refused
  like ``GMT+1``: "10:00 EST" in July means New York's 10:00 EDT to a person, 15:00Z to tzdata.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from tracker.errors import TrackerError

ZONE_EXAMPLES = "an IANA name such as Europe/Vienna, America/New_York, Africa/Lagos"

# Names tzdata accepts that are not a place: fixed offsets (EST is UTC-5 all year) or rules
# without a city. Lower-case key -> the city zones a person most likely means.
LEGACY_ZONES = {
    "est": ("America/New_York", "America/Panama"),
    "mst": ("America/Denver", "America/Phoenix"),
    "hst": ("Pacific/Honolulu",),
    "est5edt": ("America/New_York",),
    "cst6cdt": ("America/Chicago",),
    "mst7mdt": ("America/Denver",),
    "pst8pdt": ("America/Los_Angeles",),
    "cet": ("Europe/Vienna", "Europe/Paris"),
    "met": ("Europe/Vienna", "Europe/Paris"),
    "wet": ("Europe/Lisbon",),
    "eet": ("Europe/Athens", "Africa/Cairo"),
    # abbreviations people write that are no zone at all
    "cest": ("Europe/Vienna", "Europe/Paris"),
    "edt": ("America/New_York",),
    "cst": ("America/Chicago", "America/Mexico_City"),
    "cdt": ("America/Chicago",),
    "mdt": ("America/Denver",),
    "pst": ("America/Los_Angeles",),
    "pdt": ("America/Los_Angeles",),
    "ast": ("America/Halifax",),
    "adt": ("America/Halifax",),
    "eest": ("Europe/Athens",),
    "wat": ("Africa/Lagos",),
    "pkt": ("Asia/Karachi",),
    "jst": ("Asia/Tokyo",),
}

MONTHS = {
    m: i
    for i, names in enumerate(
        [
            ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"),
            ("may",), ("jun", "june"), ("jul", "july"), ("aug", "august"),
            ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
            ("dec", "december"),
        ],
        start=1,
    )
    for m in names
}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

ACCEPTED_WHEN = (
    "accepted: 2024-10-14T12:00 (optionally with +02:00 or Z), 2024-10-14 12:00, 2024-10-14, "
    "14/10/2024 12:00, 14 Oct 2024 12:00, 14 Oct 2024 noon, 2024-10-14 9am, "
    "4 Oct 2024 midnight (= 24:00, its end)"
)

_ISO = re.compile(
    r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)?(?:Z|[+-]\d{2}:?\d{2})?$"
)
_NUMERIC = re.compile(r"^(\d{1,2})[/.](\d{1,2})[/.](\d{4})(?:[ T,]+(?P<time>.+))?$")
_DAY_MONTH = re.compile(
    r"^(?:(?P<wd>[a-z]{3})[a-z]*\.?,?\s+)?(?P<d>\d{1,2})(?:st|nd|rd|th)?\s+(?P<m>[a-z]+)\.?,?"
    r"\s+(?P<y>\d{4})(?:,?\s+(?:at\s+)?(?P<time>.+))?$"
)
_MONTH_DAY = re.compile(
    r"^(?:(?P<wd>[a-z]{3})[a-z]*\.?,?\s+)?(?P<m>[a-z]+)\.?\s+(?P<d>\d{1,2})(?:st|nd|rd|th)?,?"
    r"\s+(?P<y>\d{4})(?:,?\s+(?:at\s+)?(?P<time>.+))?$"
)
_ISO_DAY = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[ T,]+(?:at\s+)?(?P<time>.+))?$")
_BY = re.compile(r"^(?:due\s+)?by\s+", re.I)
_ISO_24 = re.compile(r"^(?P<d>\d{4}-\d{2}-\d{2})[T ]24:00(?::00)?(?P<off>Z|[+-]\d{2}:?\d{2})?$")
_H24 = re.compile(r",?\s+(?:at\s+)?24[:.h]00$")  # "9 May 2025 24:00" reads as "... midnight"
_TIME = re.compile(r"^(\d{1,2})(?:[:.h](\d{2}))?\s*(am|pm|a\.m\.|p\.m\.)?$")
_OFFSET = re.compile(r"^(\d{1,7})\s*(w|d|h|m)$")
MAX_OFFSETS = 20  # reminders per deadline: the column holds 20 on every database


@dataclass(frozen=True)
class When:
    """A parsed WHEN: either an instant (aware, UTC) or a calendar date, with its IANA zone."""

    tz: str
    utc: datetime | None = None
    day: date | None = None
    end_of: date | None = None  # "D midnight" / "D 24:00": `utc` is 00:00 after D, meaning D's end

    @property
    def is_date(self) -> bool:
        return self.day is not None

    def local(self) -> datetime:
        """The instant as wall-clock time in its own zone (timed values only)."""
        assert self.utc is not None
        return self.utc.astimezone(ZoneInfo(self.tz))


@dataclass(frozen=True, order=True)
class Offset:
    """A reminder offset before a deadline. Day and week offsets are delivered at a local hour."""

    minutes: int
    unit: str

    @property
    def value(self) -> int:
        return self.minutes // {"w": 10080, "d": 1440, "h": 60, "m": 1}[self.unit]

    @property
    def is_days(self) -> bool:
        return self.unit in ("w", "d")

    @property
    def days(self) -> int:
        return self.minutes // 1440

    @property
    def delta(self) -> timedelta:
        return timedelta(minutes=self.minutes)

    def __str__(self) -> str:
        return f"{self.value}{self.unit}"


def parse_zone(name: str, field: str = "tz") -> ZoneInfo:
    """Return the IANA zone called `name`, refusing fixed offsets and unknown names."""
    text = (name or "").strip()
    legacy = LEGACY_ZONES.get(text.lower().replace("systemv/", ""))
    if legacy is not None:
        kind = ("a zone abbreviation or legacy name, not a place" if len(text) <= 4
                else "a legacy rule without a place")
        raise TrackerError(
            field,
            f"'{name}' is {kind}, wrong for part of the year or the place; use a city zone "
            f"such as {' or '.join(legacy)}",
        )
    if re.fullmatch(r"(?i)(etc/)?(gmt|utc)\s*[+-]\s*\d{1,2}(:?\d{2})?", text):
        raise TrackerError(
            field,
            f"'{name}' is a fixed offset, which is wrong half the year; use {ZONE_EXAMPLES}",
        )
    try:
        if not text or text.startswith("/") or ".." in text:
            raise ValueError(text)
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        hint = _zone_hint(text)
        raise TrackerError(field, f"unknown time zone '{name}'{hint}; use {ZONE_EXAMPLES}") from None


def _zone_hint(text: str) -> str:
    lowered = text.lower().replace(" ", "_")
    zones = sorted(z for z in available_timezones() if z.lower() not in LEGACY_ZONES)
    matches = [z for z in zones if z.lower() == lowered]
    if not matches:
        matches = [z for z in zones if z.lower().endswith("/" + lowered)]
    if not matches and lowered:  # a typo: the most similar name, or the most similar city
        by_name = {z.lower(): z for z in zones if "/" in z}
        close = difflib.get_close_matches(lowered, list(by_name), n=1, cutoff=0.8)
        if not close:
            cities = {z.rsplit("/", 1)[1].lower(): z for z in reversed(zones) if "/" in z}
            city = lowered.rsplit("/", 1)[-1]
            close = [cities[c].lower() for c in
                     difflib.get_close_matches(city, list(cities), n=1, cutoff=0.75)]
        matches = [by_name[c] for c in close if c in by_name]
    return f" (did you mean {matches[0]}?)" if matches else ""


def localize(naive: datetime, zone: ZoneInfo, field: str = "WHEN") -> datetime:
    """Attach `zone` to a wall-clock time; refuse a time the clocks skip, take the first of two."""
    aware = naive.replace(tzinfo=zone, fold=0)
    back = aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    if back != naive:
        before = naive.replace(tzinfo=zone, fold=0).utcoffset()
        after = naive.replace(tzinfo=zone, fold=1).utcoffset()
        gap = abs((before or timedelta()) - (after or timedelta()))
        raise TrackerError(
            field,
            f"{naive:%Y-%m-%d %H:%M} does not exist in {zone.key}: the clocks skip "
            f"{int(gap.total_seconds() // 60)} minutes that night; give a time outside the gap",
        )
    return aware


def parse_when(text: str, tz: str, field: str = "WHEN") -> When:
    """Parse the secretary's WHEN text; a time without offset is wall-clock time in `tz`."""
    zone = parse_zone(tz, "tz")
    raw = " ".join((text or "").strip().split())
    if not raw:
        raise TrackerError(field, f"is empty; {ACCEPTED_WHEN}")
    by = _BY.match(raw)  # "by 9 May 2025", "due by midnight 9 May 2025": the same moment
    if by:
        raw = raw[by.end():]
    lowered = raw.lower()
    if lowered in ("noon", "midnight", "24:00", "now", "today", "tomorrow"):
        raise TrackerError(field, f"'{raw}' needs a date, e.g. '14 Oct 2024 noon'; {ACCEPTED_WHEN}")
    m24 = _ISO_24.match(raw)
    if m24 and m24.group("off"):  # an explicit offset names an instant: 00:00 after that day
        when = _from_iso(f"{m24.group('d')}T00:00{m24.group('off')}", tz, zone, field)
        assert when.utc is not None
        return When(tz=tz, utc=when.utc + timedelta(days=1))
    if m24:
        raw = lowered = f"{m24.group('d')} midnight"
    else:
        lowered = _H24.sub(" midnight", lowered)
    if _ISO.match(raw):
        return _from_iso(raw, tz, zone, field)
    lowered, word = _pull_noon_midnight(lowered)
    day, clock = _parse_date_and_time(lowered, raw, field)
    if word == "noon":
        if clock is not None:
            raise TrackerError(field, f"'{raw}' gives both a time and 'noon'")
        clock = time(12, 0)
    elif word == "midnight":
        if clock is not None:
            raise TrackerError(field, f"'{raw}' gives both a time and 'midnight'")
        # The end of `day`: a deadline due on that date. Its instant is 00:00 the next day.
        return When(tz=tz, utc=start_of_day(day + timedelta(days=1), tz), end_of=day)
    if clock is None:
        return When(tz=tz, day=day)
    local = localize(datetime.combine(day, clock), zone, field)
    return When(tz=tz, utc=local.astimezone(UTC))


def _pull_noon_midnight(lowered: str) -> tuple[str, str | None]:
    for word in ("noon", "midnight"):
        for pattern in (rf"^(?:at\s+)?{word}\s+(?:on\s+)?(.+)$", rf"^(.+?),?\s+(?:at\s+)?{word}$"):
            m = re.match(pattern, lowered)
            if m:
                return m.group(1), word
    return lowered, None


def _from_iso(raw: str, tz: str, zone: ZoneInfo, field: str) -> When:
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise TrackerError(field, f"'{raw}' is not a real date or time; {ACCEPTED_WHEN}") from None
    if len(raw) == 10:
        return When(tz=tz, day=parsed.date())
    if parsed.tzinfo is not None:
        return When(tz=tz, utc=parsed.astimezone(UTC))
    return When(tz=tz, utc=localize(parsed, zone, field).astimezone(UTC))


def _parse_date_and_time(lowered: str, raw: str, field: str) -> tuple[date, time | None]:
    m = _ISO_DAY.match(lowered)  # 2025-05-09 9am (the ISO forms with HH:MM are read before)
    if m:
        try:
            day = date.fromisoformat(m.group(1))
        except ValueError:
            raise TrackerError(field, f"'{raw}' is not a real date; {ACCEPTED_WHEN}") from None
        clock = _parse_clock(m.group("time"), raw, field) if m.group("time") else None
        return day, clock
    m = _NUMERIC.match(lowered)
    if m:
        d, mo, y = int(m.group(1)), int(m.group(2)), int(m.group(3))
        weekday = None
    else:
        m = _DAY_MONTH.match(lowered) or _MONTH_DAY.match(lowered)
        if not m:
            raise TrackerError(field, f"'{raw}' is not a date or time I can read; {ACCEPTED_WHEN}")
        month = MONTHS.get(m.group("m"))
        if month is None:
            raise TrackerError(field, f"'{m.group('m')}' in '{raw}' is not a month name")
        d, mo, y, weekday = int(m.group("d")), month, int(m.group("y")), m.group("wd")
    try:
        day = date(y, mo, d)
    except ValueError:
        raise TrackerError(field, f"'{raw}' is not a real date (day {d}, month {mo}, year {y})") from None
    if weekday is not None:
        if weekday not in WEEKDAYS:
            raise TrackerError(field, f"'{weekday}' in '{raw}' is not a weekday name")
        if WEEKDAYS.index(weekday) != day.weekday():
            raise TrackerError(
                field,
                f"{day:%d %b %Y} is a {WEEKDAY_NAMES[day.weekday()]}, "
                f"not a {WEEKDAY_NAMES[WEEKDAYS.index(weekday)]}",
            )
    clock = _parse_clock(m.group("time"), raw, field) if m.group("time") else None
    return day, clock


def _parse_clock(text: str, raw: str, field: str) -> time:
    m = _TIME.match(text.strip())
    if not m or (m.group(2) is None and m.group(3) is None):
        raise TrackerError(field, f"'{text}' in '{raw}' is not a time such as 12:00, 9am or noon")
    hour, minute, ampm = int(m.group(1)), int(m.group(2) or 0), m.group(3)
    if ampm:
        if not 1 <= hour <= 12:
            raise TrackerError(field, f"'{text}' in '{raw}' is not a 12-hour time")
        hour = hour % 12 + (12 if ampm.startswith("p") else 0)
    if hour > 23 or minute > 59:
        raise TrackerError(field, f"'{text}' in '{raw}' is not a time of day (00:00-23:59)")
    return time(hour, minute)


def start_of_day(day: date, tz: str) -> datetime:
    """The UTC instant a calendar day begins in `tz`."""
    return datetime.combine(day, time(0, 0), tzinfo=ZoneInfo(tz)).astimezone(UTC)


def end_of_day(day: date, tz: str) -> datetime:
    """The UTC instant a date-only deadline falls due: 23:59 on that day in its zone.

    23:59 rather than 24:00 keeps the instant inside the day in every calendar and list. Where
    23:59 happens twice (Santiago goes back at 24:00 in April) the end is the second one.
    """
    return datetime.combine(day, time(23, 59, fold=1), tzinfo=ZoneInfo(tz)).astimezone(UTC)


def iso_local(utc: datetime, tz: str) -> str:
    """ISO 8601 with the offset the instant has in its own zone, e.g. 2024-10-14T12:00:00+02:00."""
    return utc.astimezone(ZoneInfo(tz)).isoformat(timespec="seconds")


def iso_utc(utc: datetime) -> str:
    """ISO 8601 in UTC ending in Z."""
    return utc.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_offsets(text: str, field: str = "remind") -> tuple[Offset, ...]:
    """Parse '14d,3d,1d,2h,30m' into offsets, largest first, without repeats."""
    parts = [p.strip().lower() for p in (text or "").split(",") if p.strip()]
    if not parts:
        raise TrackerError(field, "is empty; give comma-separated offsets such as 14d,3d,1d,2h,30m")
    if len(parts) > MAX_OFFSETS:
        raise TrackerError(field, f"has {len(parts)} offsets; give at most {MAX_OFFSETS}")
    found: dict[int, Offset] = {}
    for part in parts:
        m = _OFFSET.match(part)
        if not m:
            raise TrackerError(
                field,
                f"'{part}' is not an offset; use a number and w (weeks), d (days), h (hours) "
                "or m (minutes), e.g. 14d,3d,1d,2h,30m",
            )
        value, unit = int(m.group(1)), m.group(2)
        minutes = value * {"w": 10080, "d": 1440, "h": 60, "m": 1}[unit]
        if value == 0 or minutes > 366 * 1440:
            raise TrackerError(field, f"'{part}' must be more than zero and at most a year")
        found.setdefault(minutes, Offset(minutes, unit))
    return tuple(sorted(found.values(), reverse=True))


def format_offsets(offsets: tuple[Offset, ...]) -> str:
    return ",".join(str(o) for o in offsets)


def utc_now() -> datetime:
    """The current instant; only the edges (cli, scheduler, serve) call this and pass it on."""
    return datetime.now(UTC)


def parse_time_of_day(text: str) -> time | None:
    """A bare clock time ('16:30', '4:30 pm', 'noon'), or None when `text` is not one."""
    lowered = " ".join((text or "").strip().lower().split())
    if lowered == "noon":
        return time(12, 0)
    m = _TIME.match(lowered)
    if not m or (m.group(2) is None and m.group(3) is None):
        return None
    try:
        return _parse_clock(lowered, text, "WHEN")
    except TrackerError:
        return None


def wall_time(utc: datetime, tz: str) -> str:
    """The instant as naive wall-clock ISO text in `tz` (for re-reading it in another zone)."""
    return utc.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%dT%H:%M")
