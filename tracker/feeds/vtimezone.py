"""VTIMEZONE components that every calendar reads right, built from the zone's TZif data.

Why not icalendar's ``add_missing_timezones()``: it lists every transition in ONE multi-valued
RDATE, and Mozilla's ical.js 2.2 (Thunderbird) reads only the first value, so Vienna comes out
an hour off all summer. Outlook has a similar reputation. So we write:

- the zone's *current* rule (the POSIX TZ string at the end of its TZif file) as STANDARD and
  DAYLIGHT components with a yearly RRULE, starting where that rule took over;
- every older transition that matters for the items (from the last one before the first item
  until the rule took over) as its own component with a single DTSTART, no RDATE at all.

So America/Mexico_City, which dropped DST in October 2022, is right both for a meeting in
July 2021 (CDT, -05:00) and in July 2024 (CST, -06:00). Zones whose rule cannot be written as
an RRULE (Julian-day rules, times outside 00:00-24:00) get explicit transitions found with
zoneinfo instead, which is equally correct, only longer.

The TZif files are parsed by the ``ical`` package's TZif reader, from the files zoneinfo uses.
Wall-clock values in a VTIMEZONE are floating by definition; they are formatted as text from
aware UTC instants plus the offset in force, so no naive datetime is built here.
"""

from __future__ import annotations

import os
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from dateutil import rrule
from icalendar import Timezone, TimezoneDaylight, TimezoneStandard

if TYPE_CHECKING:
    from ical.tzif.model import TimezoneInfo, Transition
    from ical.tzif.tz_rule import Rule, RuleDate

_DAY = timedelta(days=1)


@dataclass(frozen=True)
class Change:
    """One moment the zone's offset (or its name / DST flag) changes."""

    utc: datetime
    offset_from: timedelta
    offset_to: timedelta
    name: str
    dst: bool


@lru_cache(maxsize=512)
def vtimezone(key: str, first_year: int, last_year: int) -> Timezone:
    """Return a VTIMEZONE for IANA zone `key` that is right for local times in the given years."""
    info = _read_tzif(key)
    range_start = datetime(first_year, 1, 1, tzinfo=UTC) - _DAY
    range_end = datetime(last_year + 1, 1, 1, tzinfo=UTC) + _DAY
    explicit = [c for c in _explicit_changes(info.transitions) if c.utc < range_end]
    rule = info.rule
    rrule_parts = _rule_components(key, rule, explicit) if rule is not None else None
    if rrule_parts is None and rule is not None and rule.dst is not None:
        # A DST rule we cannot write as an RRULE: list the real transitions instead.
        explicit = _merge(explicit, _scan_changes(key, first_year, last_year))
        rule_start = None
    else:
        rule_start = rrule_parts[0] if rrule_parts else None
    tz = Timezone()
    tz.add("TZID", key)
    for change in _relevant(explicit, range_start, rule_start):
        tz.add_component(_observance(change))
    if rrule_parts:
        for component in rrule_parts[1]:
            tz.add_component(component)
    if not tz.subcomponents:  # a zone without any transition (UTC and friends)
        offset = rule.std.offset if rule else timedelta(0)
        name = rule.std.name if rule else "UTC"
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        tz.add_component(_observance(Change(epoch, offset, offset, name, False)))
    return tz


def _read_tzif(key: str) -> TimezoneInfo:
    """The zone's TZif data from the same place zoneinfo reads it: TZPATH, then tzdata.

    The system tzdata and the tzdata package can be different releases (Morocco's rules differ
    between 2025b and 2026f); the VTIMEZONE must match the zoneinfo we compute instants with.
    """
    # Imported here, not at the top: the `ical` package's TZif models take ~0.05 s to import,
    # which every `tracker` command would pay although only rendering a feed needs them.
    from ical.tzif.tzif import read_tzif

    ZoneInfo(key)  # refuses names that are not zones (and paths)
    for folder in zoneinfo.TZPATH:
        path = os.path.join(folder, key)
        if os.path.isfile(path):
            with open(path, "rb") as handle:
                return read_tzif(handle.read())
    # Only now: importing ical's timezoneinfo reads every zone there is (~0.2 s, more on a
    # busy machine), which a server's first feed would otherwise wait for.
    from ical.tzif import timezoneinfo

    return timezoneinfo.read(key)


@lru_cache(maxsize=512)
def vtimezone_text(key: str, first_year: int, last_year: int) -> str:
    """The VTIMEZONE as iCalendar text (CRLF, folded), cached per zone and range."""
    ical: bytes = vtimezone(key, first_year, last_year).to_ical()  # unannotated in icalendar
    return ical.decode("utf-8")


def _explicit_changes(transitions: list[Transition]) -> list[Change]:
    changes: list[Change] = []
    previous = None
    for t in transitions:
        if previous is not None and (t.utoff, t.dst, t.designation) == previous:
            continue
        before = timedelta(seconds=previous[0]) if previous else timedelta(seconds=t.utoff)
        changes.append(
            Change(
                utc=datetime.fromtimestamp(t.transition_time, UTC),
                offset_from=before,
                offset_to=timedelta(seconds=t.utoff),
                name=t.designation,
                dst=bool(t.dst),
            )
        )
        previous = (t.utoff, t.dst, t.designation)
    return changes


def _relevant(
    changes: list[Change], range_start: datetime, rule_start: datetime | None
) -> list[Change]:
    """The last change before the range (it sets the offset going in) and all later ones."""
    before_rule = [c for c in changes if rule_start is None or c.utc < rule_start]
    inside = [c for c in before_rule if c.utc >= range_start]
    earlier = [c for c in before_rule if c.utc < range_start]
    if earlier and (rule_start is None or rule_start > range_start):
        inside.insert(0, earlier[-1])
    return inside


def _rule_components(
    key: str, rule: Rule, explicit: list[Change]
) -> tuple[datetime, list[TimezoneStandard | TimezoneDaylight]] | None:
    """STANDARD + DAYLIGHT with RRULEs for the current rule, or None when it has no DST.

    None too when the parsed rule disagrees with zoneinfo after its first transitions: the
    `ical` package reads Dublin's "IST-1GMT0,M10.5.0,M3.5.0/1" (negative DST, winter GMT+0) as
    +02:00 in winter, which put every Dublin time from October 2027 on two hours off. Such
    zones get their transitions listed instead.
    """
    from ical.tzif.tz_rule import RuleDate  # see _read_tzif

    if rule.dst is None or rule.dst_start is None or rule.dst_end is None:
        return None
    if not (
        isinstance(rule.dst_start, RuleDate) and timedelta(0) <= rule.dst_start.time < _DAY
        and isinstance(rule.dst_end, RuleDate) and timedelta(0) <= rule.dst_end.time < _DAY
    ):
        return None
    std, dst = rule.std.offset, rule.dst.offset
    since = explicit[-1].utc if explicit else datetime(1970, 1, 1, tzinfo=UTC)
    # The first occurrence of each rule at or after the last explicit transition.
    to_dst = _first_occurrence(rule.dst_start, std, since)
    to_std = _first_occurrence(rule.dst_end, dst, since)
    zone = ZoneInfo(key)
    for moment, offset in ((to_dst, dst), (to_std, std)):
        if (moment + timedelta(hours=1)).astimezone(zone).utcoffset() != offset:
            return None
    parts = [
        _rule_observance(TimezoneDaylight(), to_dst, std, dst, rule.dst.name, rule.dst_start),
        _rule_observance(TimezoneStandard(), to_std, dst, std, rule.std.name, rule.dst_end),
    ]
    return min(to_dst, to_std), parts


def _first_occurrence(rd: RuleDate, offset_before: timedelta, since: datetime) -> datetime:
    """UTC instant of the first transition of `rd` at or after `since`."""
    year = (since + offset_before).year
    while True:
        utc = _occurrence(rd, year) - offset_before
        if utc >= since:
            return utc
        year += 1


def _occurrence(rd: RuleDate, year: int) -> datetime:
    """The rule's wall-clock moment in `year`, as an aware value labelled UTC (offset applied later)."""
    weekday = rrule.weekdays[(rd.day_of_week - 1) % 7]
    nth = -1 if rd.week_of_month == 5 else rd.week_of_month
    day: datetime = rrule.rrule(  # dateutil is untyped here (see [tool.mypy] overrides)
        rrule.YEARLY, dtstart=datetime(year, 1, 1, tzinfo=UTC), bymonth=rd.month,
        byweekday=weekday(nth), count=1,
    )[0]
    return day + rd.time


def _rrule_text(rd: RuleDate) -> dict[str, object]:
    weekday = ("SU", "MO", "TU", "WE", "TH", "FR", "SA")[rd.day_of_week % 7]
    nth = -1 if rd.week_of_month == 5 else rd.week_of_month
    return {"FREQ": "YEARLY", "BYMONTH": rd.month, "BYDAY": f"{nth}{weekday}"}


def _rule_observance(
    component: TimezoneStandard | TimezoneDaylight,
    first_utc: datetime,
    offset_from: timedelta,
    offset_to: timedelta,
    name: str,
    rd: RuleDate,
) -> TimezoneStandard | TimezoneDaylight:
    component.add("DTSTART", _wall(first_utc, offset_from), encode=False)
    component.add("TZOFFSETFROM", offset_from)
    component.add("TZOFFSETTO", offset_to)
    component.add("TZNAME", name)
    component.add("RRULE", _rrule_text(rd))
    return component


def _observance(change: Change) -> TimezoneStandard | TimezoneDaylight:
    component = TimezoneDaylight() if change.dst else TimezoneStandard()
    component.add("DTSTART", _wall(change.utc, change.offset_from), encode=False)
    component.add("TZOFFSETFROM", change.offset_from)
    component.add("TZOFFSETTO", change.offset_to)
    component.add("TZNAME", change.name)
    return component


def _wall(utc: datetime, offset: timedelta) -> str:
    """Local wall-clock text (floating, as RFC 5545 wants in VTIMEZONE) of `utc` at `offset`."""
    return (utc + offset).strftime("%Y%m%dT%H%M%S")


def _scan_changes(key: str, first_year: int, last_year: int) -> list[Change]:
    """Find offset changes with zoneinfo, day by day then by bisection (rare zones only)."""
    zone = ZoneInfo(key)
    start = datetime(first_year - 1, 1, 1, tzinfo=UTC)
    end = datetime(last_year + 1, 12, 31, tzinfo=UTC)
    changes: list[Change] = []
    t = start
    while t < end:
        nxt = t + _DAY
        a, b = t.astimezone(zone), nxt.astimezone(zone)
        if (a.utcoffset(), a.tzname()) != (b.utcoffset(), b.tzname()):
            lo, hi = t, nxt
            while hi - lo > timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                m = mid.astimezone(zone)
                if (m.utcoffset(), m.tzname()) == (a.utcoffset(), a.tzname()):
                    lo = mid
                else:
                    hi = mid
            hi = hi.replace(microsecond=0)
            after = hi.astimezone(zone)
            changes.append(
                Change(hi, a.utcoffset() or timedelta(0), after.utcoffset() or timedelta(0),
                       after.tzname() or key, bool(after.dst()))
            )
        t = nxt
    return changes


def _merge(a: list[Change], b: list[Change]) -> list[Change]:
    seen = {c.utc for c in a}
    return sorted(a + [c for c in b if c.utc not in seen], key=lambda c: c.utc)
