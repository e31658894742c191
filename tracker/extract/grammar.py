"""Find dates, clock times, time windows and stated zones in one clause of minutes' text.

Strict patterns rather than a general date finder: minutes are full of numbers that are not
dates (COP12, resolution 26/3, 2030 Agenda, 15 members), and a finder that guesses turns each
into a proposal to wade through. What is read (day first, as Vienna writes):
- "14 October", "14th Oct 2024", "Friday 11, October", "the 4th and 5th of May", "14-18 October",
  "October 14th", "Monday, October 14th, 2024", "May 4-5", "05/05", "14/10/2024", "14.10.2024",
  "2024-10-14";
- "noon", "midday", "midnight", "15:00", "9 am", "1 p.m.", "9.30 a.m.", windows "15:00 - 16:30",
  "from 9 am until 1 p.m.", "8 a.m. to 11 a.m.", "between 10:00 and 12:00";
- stated zones: "GMT+1", "UTC+02:00", "CET"/"CEST", "Vienna time", "New York time".
A lowercase "may" is the verb, never the month.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time

from tracker.timeparse import MONTHS, WEEKDAYS

_MONTH = (r"(?P<m>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
          r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?")
_WEEKDAY = (r"(?:(?P<wd>mon|tue|wed|thu|fri|sat|sun)(?:day|sday|nesday|rsday|urday|s|rs)?\.?"
            r",?\s+(?:the\s+)?)?")
_DAY1 = r"(?P<d1>[0-3]?\d)(?:st|nd|rd|th)?"
_DAY2 = r"(?P<d2>[0-3]?\d)(?:st|nd|rd|th)?"
_JOIN = r"\s*(?P<join>-|–|—|to|and|&|until|through)\s*(?:the\s+)?"
_YEAR = r"(?:,?\s+(?P<y>(?:19|20)\d{2})(?!\d))?"

_DAY_MONTH = re.compile(
    rf"(?<![\w/.]){_WEEKDAY}(?:the\s+)?{_DAY1}(?:{_JOIN}{_DAY2})?(?:\s+of)?[\s,]+{_MONTH}"
    rf"(?![a-z]){_YEAR}", re.IGNORECASE)
_MONTH_DAY = re.compile(
    rf"(?<![\w/.]){_WEEKDAY}{_MONTH}\s+{_DAY1}(?:{_JOIN}{_DAY2})?(?![\d:.]\d)(?!\s*(?:am|pm|a\.m|p\.m))"
    rf"(?![\w]){_YEAR}", re.IGNORECASE)
_NUMERIC = re.compile(
    r"(?<![\w/.\-])(?P<d1>[0-3]?\d)(?P<sep>[/.])(?P<mo>[01]?\d)(?:(?P=sep)(?P<y>(?:19|20)\d{2}))?"
    r"(?![\w/])(?!\.\d)")
_ISO_DATE = re.compile(r"(?<![\w\-])(?P<y>(?:19|20)\d{2})-(?P<mo>[01]\d)-(?P<d1>[0-3]\d)(?![\w\-])")

_CLOCK = re.compile(
    r"(?<![\w:./])(?:"
    r"(?P<h>[01]?\d)(?:[:.](?P<mi>[0-5]\d))?\s*(?P<ap>a\.?\s?m\b\.?|p\.?\s?m\b\.?)"
    r"|(?P<h24>[0-2]?\d)[:h](?P<mi24>[0-5]\d)(?:\s*(?:hrs|hours|h)\b)?"
    r"|(?P<noon>(?:12\s+)?noon|midday)|(?P<midnight>midnight))", re.IGNORECASE)
# "15.00-16.30": dotted 24-hour times only as a window (alone, "15.00" may be an amount)
_DOTTED_WINDOW = re.compile(
    r"(?<![\w.])(?P<h1>[0-2]?\d)\.(?P<m1>[0-5]\d)\s*(?:-|–|—|to|until|and)\s*"
    r"(?P<h2>[0-2]?\d)\.(?P<m2>[0-5]\d)(?![\w]|\.\d)")
_WINDOW_JOIN = re.compile(r"^\s*(?:-|–|—|to|until|till|and)\s*$", re.IGNORECASE)

_OFFSET = re.compile(r"\b(?:GMT|UTC)\s*(?P<sign>[+\-−])\s*(?P<h>\d{1,2})(?::?(?P<mi>\d{2}))?\b")
_ABBREVIATIONS = {"cet": 60, "cest": 120}
CITY_ZONES = {
    "vienna": "Europe/Vienna", "new york": "America/New_York", "geneva": "Europe/Zurich",
    "kyoto": "Asia/Tokyo", "tokyo": "Asia/Tokyo",
}
_CITY = re.compile(r"\b(?P<city>" + "|".join(CITY_ZONES) + r")\s+time\b", re.IGNORECASE)
_ABBREVIATION = re.compile(r"\b(?P<abbr>CEST|CET)\b")


@dataclass(frozen=True)
class DateHit:
    """A date (or a run of days) in the clause; the year is None when the text gives none."""

    start: int
    end: int
    month: int
    days: tuple[int, ...]
    year: int | None
    weekday: int | None
    is_range: bool  # "14-18 October": every day from the first to the last

    @property
    def text_span(self) -> tuple[int, int]:
        return self.start, self.end


@dataclass(frozen=True)
class ClockHit:
    """A clock time, or a window of two, in the clause."""

    start: int
    end: int
    first: time
    last: time | None = None  # the end of a window
    midnight: bool = False  # "midnight" means the end of the day it belongs to


@dataclass(frozen=True)
class ZoneHint:
    """A zone stated beside the times: a fixed offset in minutes, an IANA zone, or both."""

    text: str
    offset_minutes: int | None = None
    zone: str | None = None


def find_dates(clause: str) -> list[DateHit]:
    """Every date in `clause`, left to right, without overlaps (the longer reading wins)."""
    hits: list[DateHit] = []
    for pattern in (_DAY_MONTH, _MONTH_DAY):
        for m in pattern.finditer(clause):
            hit = _named_month_hit(m)
            if hit is not None:
                hits.append(hit)
    for m in _NUMERIC.finditer(clause):
        if m.group("y") is None and not _plausible_short(clause, m):
            continue  # "3.5" and "resolution 26/3" are numbers; "(05/05)" is a date
        hit = _numeric_hit(m)
        if hit is not None:
            hits.append(hit)
    for m in _ISO_DATE.finditer(clause):
        hit = _numeric_hit(m)
        if hit is not None:
            hits.append(hit)
    hits.sort(key=lambda h: (h.start, -(h.end - h.start)))
    kept: list[DateHit] = []
    for hit in hits:
        if kept and hit.start < kept[-1].end:
            if hit.end - hit.start > kept[-1].end - kept[-1].start:
                kept[-1] = hit
            continue
        kept.append(hit)
    return kept


def _named_month_hit(m: re.Match[str]) -> DateHit | None:
    month_text = m.group("m")
    if month_text == "may":  # the verb: "participants may register"
        return None
    month = MONTHS.get(month_text.lower().rstrip("."))
    if month is None:
        return None
    d1 = int(m.group("d1"))
    days: tuple[int, ...] = (d1,)
    is_range = False
    if m.group("d2"):
        d2 = int(m.group("d2"))
        if d2 <= d1 and m.group("join") not in ("and", "&"):
            return None
        days = (d1, d2)
        is_range = m.group("join") not in ("and", "&")
    if not all(1 <= d <= 31 for d in days):
        return None
    year = int(m.group("y")) if m.group("y") else None
    wd = m.group("wd")
    weekday = WEEKDAYS.index(wd.lower()[:3]) if wd else None
    end = m.end()
    if m.group(0).endswith(".") and len(month_text.rstrip(".")) > 4:
        end -= 1  # "by 3 March." ends the sentence; "by 3 Sept." is an abbreviation
    return DateHit(m.start(), end, month, days, year, weekday, is_range)


def _plausible_short(clause: str, m: re.Match[str]) -> bool:
    """A yearless numeric date only as dd/mm, or after 'on', 'by', 'until' or '('."""
    if m.group("sep") == ".":
        return False
    if len(m.group("d1")) == 2 and len(m.group("mo")) == 2:
        return True
    return re.search(r"(?:\b(?:on|by|until|before)\s+|\()$", clause[: m.start()], re.I) is not None


def _numeric_hit(m: re.Match[str]) -> DateHit | None:
    day, month = int(m.group("d1")), int(m.group("mo"))
    if not (1 <= day <= 31 and 1 <= month <= 12):
        return None
    year = int(m.group("y")) if m.group("y") else None
    return DateHit(m.start(), m.end(), month, (day,), year, None, False)


def find_clocks(clause: str) -> list[ClockHit]:
    """Clock times and windows ("15:00 - 16:30", "from 9 am until 1 p.m."), left to right."""
    singles: list[tuple[int, int, time, bool]] = []
    dotted: list[ClockHit] = []
    for m in _DOTTED_WINDOW.finditer(clause):
        h1, m1, h2, m2 = (int(m.group(g)) for g in ("h1", "m1", "h2", "m2"))
        joined_by_and = re.search(r"\band\b", m.group(0)) is not None
        if joined_by_and and not re.search(r"between\s+$", clause[:m.start()], re.I):
            continue
        if h1 <= 23 and h2 <= 23 and (h2, m2) > (h1, m1):
            dotted.append(ClockHit(m.start(), m.end(), time(h1, m1), time(h2, m2)))
    for m in _CLOCK.finditer(clause):
        if any(d.start <= m.start() < d.end for d in dotted):
            continue
        clock = _clock_of(m)
        if clock is not None:
            singles.append((m.start(), m.end(), clock, bool(m.group("midnight"))))
    hits: list[ClockHit] = []
    i = 0
    while i < len(singles):
        start, end, first, is_midnight = singles[i]
        if i + 1 < len(singles):
            n_start, n_end, second, _ = singles[i + 1]
            between = clause[end:n_start]
            joined = _WINDOW_JOIN.match(between) and (
                between.strip().lower() != "and" or re.search(r"between\s+$", clause[:start], re.I)
            )
            if joined and second > first:
                hits.append(ClockHit(start, n_end, first, second))
                i += 2
                continue
        hits.append(ClockHit(start, end, first, None, is_midnight))
        i += 1
    return sorted(hits + dotted, key=lambda h: h.start)


def _clock_of(m: re.Match[str]) -> time | None:
    if m.group("noon"):
        return time(12, 0)
    if m.group("midnight"):
        return time(0, 0)
    if m.group("h24") is not None:
        hour, minute = int(m.group("h24")), int(m.group("mi24"))
        return time(hour, minute) if hour <= 23 else None
    hour, minute = int(m.group("h")), int(m.group("mi") or 0)
    if not 1 <= hour <= 12:
        return None
    return time(hour % 12 + (12 if m.group("ap").lower().startswith("p") else 0), minute)


def find_zone(clause: str) -> ZoneHint | None:
    """The zone the clause states for its times, if any."""
    m = _OFFSET.search(clause)
    if m:
        minutes = int(m.group("h")) * 60 + int(m.group("mi") or 0)
        sign = -1 if m.group("sign") in "-−" else 1
        return ZoneHint(m.group(0), offset_minutes=sign * minutes)
    m = _ABBREVIATION.search(clause)
    if m:
        return ZoneHint(m.group(0), offset_minutes=_ABBREVIATIONS[m.group("abbr").lower()],
                        zone="Europe/Vienna")
    m = _CITY.search(clause)
    if m:
        return ZoneHint(m.group(0), zone=CITY_ZONES[m.group("city").lower()])
    return None
