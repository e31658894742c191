"""Recurring events: RRULE text in, occurrences out. Pure: no session, no clock, no disk.

A recurring event stores its RFC 5545 RRULE text (validated by icalendar's vRecur and
python-dateutil's rrule), optional extra dates (RDATE) and its own IANA zone. Occurrences are
generated in that zone's *wall-clock* time, so "15:00 Vienna, second Wednesday" stays 15:00
in January (CET, 14:00Z) and in July (CEST, 13:00Z), as every calendar reading the published
RRULE with its TZID does. Each occurrence lasts the first one's exact duration (RFC 5545
3.8.5.3). Changes to one occurrence (cancelled, moved) are keyed by the instant the rule gives
it ("original", the RECURRENCE-ID) and live in their own table (`OccurrenceChange`).

A wall-clock time the zone skips (02:30 on the spring-forward night) is read with the offset
before the gap, which is what RFC 5545 and ZoneInfo (fold=0) both do.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dateutil import rrule as du
from icalendar.prop import vRecur

from tracker.errors import TrackerError

WORDS = {
    "daily": "FREQ=DAILY",
    "weekly": "FREQ=WEEKLY",
    "fortnightly": "FREQ=WEEKLY;INTERVAL=2",
    "biweekly": "FREQ=WEEKLY;INTERVAL=2",
    "monthly": "FREQ=MONTHLY",
    "yearly": "FREQ=YEARLY",
    "annually": "FREQ=YEARLY",
}
ACCEPTED = ("daily, weekly, fortnightly, monthly, yearly, or an RFC 5545 RRULE such as "
            "FREQ=MONTHLY;BYDAY=2WE")
FREQS = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
MAX_COUNT = 1000
UNBOUNDED_SPAN = timedelta(days=366 * 20)  # the most of an endless rule one call expands


@dataclass(frozen=True)
class Change:
    """One occurrence cancelled or moved; `original` is the UTC instant the rule gives it."""

    original: datetime
    cancelled: bool = False
    start_utc: datetime | None = None  # moved: the new times (None: as the rule says)
    end_utc: datetime | None = None


@dataclass(frozen=True)
class Occurrence:
    """One meeting of a series as it will happen (or was cancelled)."""

    original: datetime  # UTC instant the rule gives it (RECURRENCE-ID)
    start_utc: datetime
    end_utc: datetime
    cancelled: bool = False
    moved: bool = False


def make_rule(
    repeat: str, *, tz: str, all_day: bool = False, until: datetime | date | None = None,
    count: int | None = None, field: str = "repeat",
) -> str:
    """Check and normalise a rule (a word or RRULE text), adding UNTIL/COUNT when given.

    UNTIL is written in UTC (RFC 5545 wants that when DTSTART has a TZID) or as a date for
    all-day events; an UNTIL in the text given as local or date values is converted so.
    """
    text = repeat.strip()
    if text.upper().startswith("RRULE:"):
        text = text[6:]
    text = WORDS.get(text.lower(), text)
    try:
        parts = vRecur.from_ical(text)
    except ValueError:
        raise TrackerError(field, f"'{repeat}' is not a rule; accepted: {ACCEPTED}") from None
    freq = parts.get("FREQ")
    if not freq or str(freq[0]).upper() not in FREQS:
        raise TrackerError(field, f"'{repeat}' needs FREQ of DAILY, WEEKLY, MONTHLY or YEARLY; "
                                  f"accepted: {ACCEPTED}")
    if "UNTIL" in parts and until is None:
        parts["UNTIL"] = [_until_value(parts["UNTIL"][0], tz, all_day)]
    _check_ranges(parts, field)
    if until is not None and count is not None:
        raise TrackerError("count", "give either an end (until) or a count, not both")
    if until is not None:
        parts.pop("COUNT", None)
        parts["UNTIL"] = [until.astimezone(UTC) if isinstance(until, datetime) else until]
    if count is not None:
        if not 1 <= count <= MAX_COUNT:
            raise TrackerError("count", f"must be between 1 and {MAX_COUNT}")
        parts.pop("UNTIL", None)
        parts["COUNT"] = [count]
    if "UNTIL" in parts and "COUNT" in parts:
        raise TrackerError(field, "has both UNTIL and COUNT; RFC 5545 allows one of them")
    rule: bytes = vRecur(parts).to_ical()  # type: ignore[no-untyped-call]  # unannotated
    normal = rule.decode("ascii")
    check_rule(normal, field)
    return normal


RANGES = {"BYMONTH": 12, "BYMONTHDAY": 31, "BYYEARDAY": 366, "BYWEEKNO": 53, "BYSETPOS": 366,
          "BYHOUR": 23, "BYMINUTE": 59, "BYSECOND": 60}


def _check_ranges(parts: vRecur, field: str) -> None:
    """RFC 5545's bounds on BY* numbers (dateutil accepts BYMONTHDAY=40 and yields nothing)."""
    for key, top in RANGES.items():
        for value in parts.get(key, []):
            number = int(value)
            low = 0 if key in ("BYHOUR", "BYMINUTE", "BYSECOND") else -top
            if not low <= number <= top or (number == 0 and low < 0) or (
                    key == "BYMONTH" and number < 1):
                raise TrackerError(field, f"{key}={number} is out of range; accepted: {ACCEPTED}")
    monthly = str(parts.get("FREQ", [""])[0]).upper() == "MONTHLY"
    for day in parts.get("BYDAY", []):
        digits = str(day)[:-2]
        if digits not in ("", "+", "-") and not 1 <= abs(int(digits)) <= (5 if monthly else 53):
            raise TrackerError(field, f"BYDAY={day} is out of range; accepted: {ACCEPTED}")


def _until_value(value: object, tz: str, all_day: bool) -> datetime | date:
    zone = ZoneInfo(tz)
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=zone)
        return aware.astimezone(zone).date() if all_day else aware.astimezone(UTC)
    if isinstance(value, date):
        if all_day:
            return value
        return datetime.combine(value, time(23, 59, 59), tzinfo=zone).astimezone(UTC)
    raise TrackerError("repeat", f"UNTIL {value!r} is neither a date nor a date-time")


def check_rule(rule: str, field: str = "repeat") -> None:
    """Refuse RRULE text dateutil cannot expand (e.g. BYDAY=9WE, BYMONTH=13)."""
    start = datetime(2024, 1, 1, 12, tzinfo=ZoneInfo("UTC"))
    try:  # dateutil finds some mistakes only while iterating (BYDAY=9WE: IndexError)
        rules = _rruleset(rule, start, ())
        rules.after(start + timedelta(days=3660))
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        why = "a day or week number is out of range" if isinstance(exc, IndexError) else exc
        raise TrackerError(field, f"'{rule}' is not a valid RRULE ({why}); accepted: "
                                  f"{ACCEPTED}") from None


def _rule_text_for(rule: str, dtstart: datetime) -> str:
    """A date-only UNTIL becomes the end of that day for an aware DTSTART (dateutil needs
    aware UNTIL when DTSTART is aware)."""
    out = []
    for part in rule.split(";"):
        key, _, value = part.partition("=")
        if key.upper() == "UNTIL" and len(value) == 8:
            day = date(int(value[:4]), int(value[4:6]), int(value[6:8]))
            zone = dtstart.tzinfo
            assert zone is not None
            local_end = datetime.combine(day, dtstart.timetz()).replace(tzinfo=zone)
            value = local_end.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        out.append(f"{key}={value}")
    return ";".join(out)


def _rruleset(rule: str, dtstart: datetime, rdates: Iterable[datetime]) -> du.rruleset:
    rules = du.rrulestr(_rule_text_for(rule, dtstart), dtstart=dtstart, forceset=True)
    assert isinstance(rules, du.rruleset)
    for extra in rdates:
        rules.rdate(extra.astimezone(dtstart.tzinfo))
    return rules


def first_at_or_after(rule: str, *, tz: str, start_utc: datetime) -> datetime | None:
    """The first instant the rule alone gives at or after DTSTART (None: it gives none).

    Readers disagree when DTSTART is not one of the rule's instants (ical.js and icalendar
    count it, dateutil does not), so a start must be the rule's first occurrence.
    """
    rules = _rruleset(rule, start_utc.astimezone(ZoneInfo(tz)), ())
    found = rules.after(start_utc - timedelta(seconds=1))
    return found.astimezone(UTC) if found is not None else None


def is_bounded(rule: str) -> bool:
    """Whether the rule ends (COUNT or UNTIL): else callers need a horizon."""
    return any(p.upper().startswith(("COUNT=", "UNTIL=")) for p in rule.split(";"))


def occurrences(
    rule: str, *, tz: str, start_utc: datetime, end_utc: datetime,
    rdates: Sequence[datetime] = (), changes: Mapping[datetime, Change] | None = None,
    window_start: datetime | None = None, window_end: datetime,
) -> list[Occurrence]:
    """Occurrences overlapping [window_start, window_end), sorted by start.

    `start_utc`/`end_utc` are the first occurrence (the event's DTSTART/DTEND); `changes` maps
    an original instant to its change. A moved occurrence appears where it moved to.
    """
    zone = ZoneInfo(tz)
    duration = end_utc - start_utc
    if not is_bounded(rule):  # a rule that never ends: never expand it without a limit
        window_end = min(window_end, max(window_start or start_utc, start_utc) + UNBOUNDED_SPAN)
    rules = _rruleset(rule, start_utc.astimezone(zone), [start_utc, *rdates])  # RFC 5545:
    # DTSTART is always the first instance, even when the rule would not give it
    lo = (window_start or start_utc) - duration
    changes = changes or {}
    found: dict[datetime, Occurrence] = {}
    for local in rules.between(lo, window_end, inc=True):
        original = local.astimezone(UTC)
        found[original] = _apply(original, duration, changes.get(original))
    for original, change in changes.items():  # moved into the window from outside it
        if original not in found and change.start_utc is not None and _in_set(rules, original):
            found[original] = _apply(original, duration, change)
    first = window_start or start_utc
    return sorted(
        (o for o in found.values() if o.end_utc > first and o.start_utc < window_end),
        key=lambda o: (o.start_utc, o.original),
    )


def _apply(original: datetime, duration: timedelta, change: Change | None) -> Occurrence:
    if change is None:
        return Occurrence(original, original, original + duration)
    start = change.start_utc or original
    end = change.end_utc or (start + duration)
    return Occurrence(original, start, end, change.cancelled, change.start_utc is not None)


def _in_set(rules: du.rruleset, original: datetime) -> bool:
    return bool(rules.between(original - timedelta(seconds=1), original + timedelta(seconds=1),
                              inc=True))


def find_occurrence(
    rule: str, *, tz: str, start_utc: datetime, end_utc: datetime, on: date,
    rdates: Sequence[datetime] = (),
) -> datetime | None:
    """The original instant of the occurrence the rule gives on local date `on` (None: none)."""
    zone = ZoneInfo(tz)
    day_start = datetime.combine(on, datetime.min.time()).replace(tzinfo=zone)
    day_end = day_start + timedelta(days=1, hours=2)  # generous on 25-hour days
    rules = _rruleset(rule, start_utc.astimezone(zone), [start_utc, *rdates])
    for local in rules.between(day_start - timedelta(hours=2), day_end, inc=True):
        if local.date() == on:
            return local.astimezone(UTC)
    return None


def last_year(rule: str, *, tz: str, start_utc: datetime, rdates: Sequence[datetime] = (),
              unbounded: int = 2037) -> int:
    """The last local year an occurrence can fall in (`unbounded` when the rule never ends)."""
    zone = ZoneInfo(tz)
    years = [d.astimezone(zone).year for d in rdates]
    if not is_bounded(rule):
        return max([unbounded, start_utc.astimezone(zone).year, *years])
    last = _rruleset(rule, start_utc.astimezone(zone), ()).before(
        datetime(9999, 1, 1, tzinfo=UTC), inc=True)
    if last is not None:
        years.append(last.year)
    return max([start_utc.astimezone(zone).year, *years])
