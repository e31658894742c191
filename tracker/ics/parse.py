"""`tracker import ics`: VEVENTs from another calendar -> events and deadlines, idempotently.

Rules (documented in the README):
- UIDs are kept; an item whose UID exists is updated, not duplicated. Its sequence grows only
  when something material changed. If the file's copy is older than ours (lower SEQUENCE and an
  older LAST-MODIFIED, e.g. an old export of our own feed), it is skipped.
- Zones (tracker.ics.zones): an IANA TZID is kept; Outlook's Windows ids ("W. Europe Standard
  Time") map through icalendar's CLDR table, its display names ("(UTC+01:00) Amsterdam, ...")
  to the zone matching the file's VTIMEZONE; a mapped zone with the configured zone's clock
  becomes the configured zone; floating times mean the calendar's X-WR-TIMEZONE (Google) or
  else the configured zone; UTC times stay the instants they name (zone: X-WR-TIMEZONE or the
  configured one). An unknown TZID skips the item with a note.
- Google's HTML descriptions become plain text, links kept as "text (URL)".
- All-day items (VALUE=DATE) stay all-day; DTEND is exclusive in iCalendar, inclusive here.
- Our own deadlines come back as deadlines: feeds write X-TRACKER-KIND (the deadline kind) and
  X-TRACKER-OPENS/-OPENS-DATE/-DUE-DATE, and the description footer is dropped again.
- Recurring items come in as recurring events: RRULE (checked and normalised, UNTIL in UTC),
  RDATE (extra occurrences), EXDATE and cancelled instances (STATUS:CANCELLED with a
  RECURRENCE-ID) as cancelled occurrences, other RECURRENCE-ID instances as moved occurrences
  (their times only; a different title or place of one instance is not kept). A rule we do
  not support (FREQ=HOURLY, RDATE periods), an override without its series or one that
  matches no occurrence is skipped with a note. A recurring deadline is skipped.
- New items get ids made from the title plus a hash of the UID ("cop12-plenary-3f2a1c").
- The file is parsed completely before anything is written, and written in one transaction:
  a malformed file changes nothing and exits 2 with one line.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from tracker import timeparse as tp
from tracker.config import KINDS
from tracker.errors import TrackerError
from tracker.feeds.render import split_description
from tracker.ics import zones
from tracker.ics.html_text import html_to_text
from tracker.ics.incoming import Incoming, in_file_words
from tracker.records import recurrence as rec
from tracker.records.checks import (
    FIRST_YEAR,
    LAST_YEAR,
    check_day,
    check_instant,
    check_tags,
    check_uid,
    slugify,
)
from tracker.records.events import DEFAULT_DURATION

CLASS_VISIBILITY = {"PUBLIC": "public", "CONFIDENTIAL": "members", "PRIVATE": "private"}
MAX_SUBCOMPONENTS = 100  # VALARMs and the like per VEVENT; a real calendar has a handful
MAX_SEQUENCE = 2**31 - 1  # the column is a 32-bit integer on PostgreSQL


CHUNK = 1000  # VEVENTs icalendar parses at a time: one chunk's tree in memory, not the file's
Progress = Callable[[int, int], None]


def parse_ics(
    data: bytes, default_tz: str, series: list[str], name: str = "FILE",
    progress: Progress | None = None,
) -> tuple[list[Incoming], list[str]]:
    """Parse an iCalendar file into checked items plus notes about the VEVENTs skipped.

    icalendar takes most of an import's time and memory (its tree of a 30,000-item file is
    hundreds of MB), so a plain file (a VCALENDAR of VTIMEZONEs, then VEVENTs: what calendar
    programs and our feeds write) goes to it in pieces of CHUNK VEVENTs, each with the file's
    header and VTIMEZONEs. Anything else, and any piece icalendar refuses, is read whole, so
    the result and the error message are the ones the whole file gives. `progress` gets
    (VEVENTs read, VEVENTs in the file).
    """
    _count_subcomponents(data, name)
    split = _split(data)
    if split is not None:
        pieces, count = split
        rest = iter(pieces)
        try:
            return _read(rest, count, default_tz, series, name, progress)
        except _Unreadable:
            pass  # read the whole file below, for icalendar's own words about it
        except TrackerError:
            if all(_parses(piece) for piece in rest):  # the whole file would get this far
                raise
    return _read(iter([data]), None, default_tz, series, name, progress)


class _Unreadable(Exception):
    """icalendar refused a piece of a split file."""


def _calendar(data: bytes, name: str, whole: bool) -> icalendar.Calendar:
    try:
        cal = icalendar.Calendar.from_ical(data)
    except (ValueError, IndexError, KeyError) as exc:
        if not whole:
            raise _Unreadable from None
        raise TrackerError(name, f"is not a valid iCalendar file ({_first_line(exc)})") from None
    if not isinstance(cal, icalendar.Calendar) or cal.name != "VCALENDAR":
        if not whole:
            raise _Unreadable
        raise TrackerError(name, "is not an iCalendar file (no BEGIN:VCALENDAR)")
    return cal


def _parses(piece: bytes) -> bool:
    try:
        _calendar(piece, "", whole=False)
    except _Unreadable:
        return False
    return True


def _read(
    pieces: Iterator[bytes], count: int | None, default_tz: str, series: list[str], name: str,
    progress: Progress | None,
) -> tuple[list[Incoming], list[str]]:
    """Read the VEVENTs of each piece (the whole file, or a split file's pieces) in order."""
    items: list[Incoming] = []
    notes: list[str] = []
    overrides: list[tuple[str, Incoming, datetime]] = []
    floating_tz: str | None = None
    n = 0
    for piece in pieces:
        cal = _calendar(piece, name, whole=count is None)
        if floating_tz is None:
            floating_tz = _floating_zone(cal, default_tz, name)
        vevents = cal.walk("VEVENT")
        total = count or len(vevents)
        for vevent in vevents:
            n += 1
            _read_one(vevent, n, floating_tz, series, default_tz, name, items, notes, overrides)
            if progress is not None:
                progress(n, total)
    notes += _attach_overrides(items, overrides)
    if not items and not notes:
        raise TrackerError(name, "contains no VEVENT to import")
    return items, notes


def _floating_zone(cal: icalendar.Calendar, default_tz: str, name: str) -> str:
    """The zone of floating times: the calendar's X-WR-TIMEZONE (Google), else ours."""
    cal_tz = str(cal.get("X-WR-TIMEZONE", "")).strip()
    fallback = _zone_name(cal_tz) if cal_tz else None
    if cal_tz and fallback is None:
        raise TrackerError("X-WR-TIMEZONE", f"unknown time zone '{cal_tz}'", where=name)
    return fallback or default_tz


def _read_one(
    vevent: icalendar.cal.Component, n: int, floating_tz: str, series: list[str],
    default_tz: str, name: str, items: list[Incoming], notes: list[str],
    overrides: list[tuple[str, Incoming, datetime]],
) -> None:
    """One VEVENT: an item, an override of a recurring one, a note, or an error naming it."""
    uid = str(vevent.get("UID", "")).strip()
    where = f"{name}: VEVENT {uid}" if uid else f"{name}: VEVENT #{n}"
    if vevent.errors:
        prop, problem = vevent.errors[0]
        raise TrackerError(str(prop), f"is malformed ({problem})", where)
    try:
        item = _read_vevent(vevent, floating_tz, series, default_tz)
        if "RECURRENCE-ID" in vevent:
            overrides.append((where, item, _original(vevent, item)))
            return
    except TrackerError as exc:
        raise exc.at(where, in_file_words(exc.field)) from None
    except (ArithmeticError, ValueError) as exc:  # a date computation out of range
        raise TrackerError("VEVENT", f"has a value out of range ({_first_line(exc)})",
                           where) from None
    except _Skip as skip:
        notes.append(f"skipped {where}: {skip}")
        return
    items.append(item)


def _split(data: bytes) -> tuple[list[bytes], int] | None:
    """A plain file as pieces of CHUNK VEVENTs, each a VCALENDAR with the file's header and
    every VTIMEZONE (which must come before the VEVENTs, as icalendar resolves TZIDs in file
    order), plus the number of VEVENTs; None for any other shape (BEGIN/END lines not spelled
    exactly, other components, a VEVENT inside another, calendar properties or blank lines
    between components, anything after END:VCALENDAR)."""
    lines = io.BytesIO(data)
    if lines.readline().rstrip(b"\r\n") != b"BEGIN:VCALENDAR":
        return None
    pos = lines.tell()
    head_end, depth, block, kind, end_line = 0, 0, 0, b"", b""
    zones: list[bytes] = []
    events: list[tuple[int, int]] = []
    for raw in lines:
        start, pos = pos, pos + len(raw)
        if end_line:
            if raw.strip():
                return None
            continue
        line = raw.rstrip(b"\r\n")
        if line[:1] in (b" ", b"\t"):  # a folded line goes with the one before
            if depth == 0 and head_end:
                return None
            continue
        word = line.upper().strip()
        if word.startswith((b"BEGIN:", b"END:")) and word != line:
            return None  # spelled otherwise: icalendar's reading decides
        if depth == 0:
            if line in (b"BEGIN:VTIMEZONE", b"BEGIN:VEVENT"):
                if line == b"BEGIN:VTIMEZONE" and events:
                    return None
                head_end = head_end or start
                depth, block, kind = 1, start, line[6:]
            elif line == b"END:VCALENDAR":
                end_line = raw
            elif head_end or word.startswith((b"BEGIN:", b"END:")):
                return None
            continue
        if line.startswith(b"BEGIN:"):
            if line[6:] in (b"VEVENT", b"VCALENDAR", b"VTIMEZONE"):
                return None  # nested: walk("VEVENT") would find it where it sits
            depth += 1
        elif line.startswith(b"END:"):
            depth -= 1
            if depth == 0:
                if line[4:] != kind:
                    return None
                if kind == b"VTIMEZONE":
                    zones.append(data[block:pos])
                else:
                    events.append((block, pos))
    if not end_line or depth or not events:
        return None
    head = data[:head_end] + b"".join(zones)
    pieces = [head + data[events[i][0]:events[min(i + CHUNK, len(events)) - 1][1]] + end_line
              for i in range(0, len(events), CHUNK)]
    return pieces, len(events)


def _count_subcomponents(data: bytes, name: str) -> None:
    """Refuse an item with more than MAX_SUBCOMPONENTS before icalendar builds the whole tree.

    A scan of the BEGIN/END lines costs a fraction of a second for 20 MB; parsing one VEVENT
    with 270,000 VALARMs first took a minute and 740 MB before its refusal."""
    depth, count, uid, number = 0, 0, "", 0
    kinds: set[str] = set()
    for raw in data.splitlines():
        line = raw.strip().upper()
        if line.startswith(b"BEGIN:"):
            if line == b"BEGIN:VEVENT":
                depth, count, uid, number, kinds = 1, 0, "", number + 1, set()
            elif depth:
                depth += 1
                if depth == 2:
                    count += 1
                    kinds.add(line[6:].decode("ascii", "replace"))
                    if count > MAX_SUBCOMPONENTS:
                        where = f"{name}: VEVENT {uid}" if uid else f"{name}: VEVENT #{number}"
                        raise TrackerError("/".join(sorted(kinds)), "more than "
                                           f"{MAX_SUBCOMPONENTS} sub-components in one item; at "
                                           f"most {MAX_SUBCOMPONENTS} are accepted", where)
        elif line.startswith(b"END:") and depth:
            depth -= 1
        elif depth == 1 and line.startswith(b"UID:"):
            uid = raw.strip()[4:].decode("utf-8", "replace")


class _Skip(Exception):
    """An item we leave out (with a note), unlike a malformed file."""


def _zone_name(tzid: str) -> str | None:
    """IANA name for an IANA or Windows zone name (X-WR-TIMEZONE, X-TRACKER-TZ)."""
    text = tzid.strip().strip('"')
    return zones.iana_name(text) or WINDOWS_TO_OLSON.get(text)


def _read_vevent(ev: icalendar.cal.Component, floating_tz: str, series: list[str],
                 configured: str) -> Incoming:
    if "DTSTART" not in ev:
        raise _Skip("no DTSTART")
    if len(ev.subcomponents) > MAX_SUBCOMPONENTS:
        names = sorted({str(c.name) for c in ev.subcomponents})
        raise TrackerError("/".join(names), f"{len(ev.subcomponents)} sub-components in one item; "
                           f"at most {MAX_SUBCOMPONENTS} are accepted")
    title = " ".join(str(ev.get("SUMMARY", "")).split())[:300] or "(untitled)"
    uid = check_uid(str(ev.get("UID", "")).strip() or _made_uid(ev), "UID")
    start = _value(ev, "DTSTART")
    status = str(ev.get("STATUS", "CONFIRMED")).upper()
    kind = str(ev.get("X-TRACKER-KIND", "")).strip() or "event"
    if kind != "event" and kind not in KINDS:
        kind = "other"
    item = Incoming(
        uid=uid, kind=kind, title=title, tz=floating_tz, start_utc=_EPOCH, end_utc=_EPOCH,
        location=" ".join(str(ev.get("LOCATION", "")).split()),
        url=str(ev.get("URL", "")).strip(),
        description=html_to_text(str(ev.get("DESCRIPTION", ""))).strip(),
        visibility=CLASS_VISIBILITY.get(str(ev.get("CLASS", "PUBLIC")).upper(), "private"),
        series=_series(ev, series),
        mode=str(ev.get("X-TRACKER-MODE", "in-person")) or "in-person",
        sequence=_sequence(ev),
        last_modified=_aware(ev.get("LAST-MODIFIED")),
    )
    if isinstance(start, datetime):
        _timed(item, ev, start, floating_tz, configured)
    elif isinstance(start, date):
        own = _zone_name(str(ev.get("X-TRACKER-TZ", "")))
        _all_day(item, ev, start, own or floating_tz)
    else:
        raise TrackerError("DTSTART", "is neither a date nor a date-time")
    if item.is_deadline:
        try:
            _deadline_fields(item, ev)
        except ValueError as exc:
            raise TrackerError("X-TRACKER-*", f"is malformed ({exc})") from None
        item.status = "cancelled" if status == "CANCELLED" else "open"
    else:
        item.status = {"CANCELLED": "cancelled", "TENTATIVE": "tentative"}.get(status, "confirmed")
    if ("RRULE" in ev or "RDATE" in ev) and "RECURRENCE-ID" not in ev:
        if item.is_deadline:
            raise _Skip("a recurring deadline (RRULE on an X-TRACKER-KIND item)")
        _recurrence(item, ev)
    return item


def _recurrence(item: Incoming, ev: icalendar.cal.Component) -> None:
    """RRULE, RDATE and EXDATE of a master VEVENT (EXDATEs become cancelled occurrences)."""
    rules = ev.get("RRULE")
    if isinstance(rules, list):
        raise _Skip("more than one RRULE (RFC 5545 allows one)")
    text = rules.to_ical().decode("ascii") if rules is not None else "FREQ=DAILY;COUNT=1"
    try:
        item.rrule = rec.make_rule(text, tz=item.tz, all_day=item.all_day, field="RRULE")
    except TrackerError as exc:
        raise _Skip(f"RRULE {text}: {exc.message}") from None
    item.rdates = sorted(set(_instants(ev, "RDATE", item)))
    item.changes = [rec.Change(t, cancelled=True) for t in sorted(set(_instants(ev, "EXDATE", item)))]


def _instants(ev: icalendar.cal.Component, name: str, item: Incoming) -> list[datetime]:
    """The UTC instants of every value of RDATE/EXDATE (each line may hold several)."""
    found = ev.get(name)
    lines = found if isinstance(found, list) else [found] if found is not None else []
    out = []
    for line in lines:
        for value in getattr(line, "dts", []):
            out.append(_occurrence_instant(value.dt, item, name))
    return out


def _occurrence_instant(value: object, item: Incoming, name: str) -> datetime:
    """An RDATE/EXDATE/RECURRENCE-ID value as the UTC instant our expansion gives it."""
    if isinstance(value, datetime):
        if item.all_day:
            return tp.start_of_day(value.date(), item.tz)
        return _instant(value, item.tz, name)
    if isinstance(value, date):
        if not item.all_day:
            raise _Skip(f"{name} is a date but DTSTART has a time")
        return tp.start_of_day(value, item.tz)
    raise _Skip(f"{name} holds a period or duration, which is not supported")


def _original(ev: icalendar.cal.Component, item: Incoming) -> datetime:
    return _occurrence_instant(_value(ev, "RECURRENCE-ID"), item, "RECURRENCE-ID")


def _attach_overrides(
    items: list[Incoming], overrides: list[tuple[str, Incoming, datetime]],
) -> list[str]:
    """Turn RECURRENCE-ID instances into changes of their master's occurrences."""
    masters = {i.uid: i for i in items if i.rrule}
    notes = []
    for where, moved, original in overrides:
        master = masters.get(moved.uid)
        if master is None:
            notes.append(f"skipped {where}: a RECURRENCE-ID instance without its recurring "
                         "VEVENT in the file")
            continue
        day = original.astimezone(ZoneInfo(master.tz)).date()
        assert master.rrule is not None
        if rec.find_occurrence(master.rrule, tz=master.tz, start_utc=master.start_utc,
                               end_utc=master.end_utc, on=day,
                               rdates=master.rdates) != original:
            notes.append(f"skipped {where}: its RECURRENCE-ID matches no occurrence")
            continue
        duration = master.end_utc - master.start_utc
        master.changes = [c for c in master.changes if c.original != original]
        if moved.status == "cancelled":
            master.changes.append(rec.Change(original, cancelled=True))
        elif (moved.start_utc, moved.end_utc) != (original, original + duration):
            master.changes.append(rec.Change(original, False, moved.start_utc, moved.end_utc))
        master.changes.sort(key=lambda c: c.original)
    return notes


_EPOCH = tp.start_of_day(date(1970, 1, 1), "UTC")


def _sequence(ev: icalendar.cal.Component) -> int:
    value = int(ev.get("SEQUENCE", 0) or 0)
    if not 0 <= value <= MAX_SEQUENCE:
        raise TrackerError("SEQUENCE", f"{value} is not accepted; give a number from 0 to "
                                       f"{MAX_SEQUENCE}")
    return value


def _plus(start: datetime, duration: timedelta) -> datetime:
    """start + DURATION, refused by name when it leaves the accepted years."""
    try:
        end = start + duration
    except OverflowError:
        raise TrackerError("DURATION", f"ends outside the years {FIRST_YEAR} to {LAST_YEAR}; "
                                       "give a shorter duration") from None
    return check_instant(end, "DURATION")


def _value(ev: icalendar.cal.Component, name: str) -> object:
    """The typed value of a date, date-time or duration property (None when absent)."""
    return getattr(ev.get(name), "dt", None)


def _tzid(ev: icalendar.cal.Component, name: str) -> str | None:
    params = getattr(ev.get(name), "params", None)
    tzid = params.get("TZID") if params is not None else None
    return str(tzid) if tzid else None


def _made_uid(ev: icalendar.cal.Component) -> str:
    """A stable UID for a VEVENT without one, so re-importing the file does not duplicate it."""
    basis = f"{ev.get('DTSTART').to_ical()!r}|{ev.get('SUMMARY', '')}"
    return f"import-{hashlib.sha256(basis.encode()).hexdigest()[:20]}@tracker.invalid"


def _series(ev: icalendar.cal.Component, extra: list[str]) -> list[str]:
    cats = ev.get("CATEGORIES")
    values: list[str] = []
    for prop in cats if isinstance(cats, list) else [cats] if cats is not None else []:
        values += [str(c) for c in prop.cats]
    tags = [slugify(v, 40) for v in values if not v.startswith("deadline:")]
    return check_tags([*extra, *(t for t in tags if t != "item")])


def _timed(item: Incoming, ev: icalendar.cal.Component, start: datetime, floating_tz: str,
           configured: str) -> None:
    tzid = _tzid(ev, "DTSTART")
    zone_name = floating_tz
    check_day(start.date(), "DTSTART")  # before any arithmetic: year 1 or 9999 overflows
    if tzid:
        end = _value(ev, "DTEND")
        if isinstance(end, datetime):
            check_day(end.date(), "DTEND")
        last = end.year if isinstance(end, datetime) else start.year
        found = zones.resolve(str(tzid), start.tzinfo, (start.year, max(last, start.year)),
                              configured)
        if found is None:
            raise _Skip(f"unknown time zone '{tzid}' (not an IANA or Windows zone name, and "
                        "no zone matches its VTIMEZONE)")
        zone_name = found
    elif "X-TRACKER-TZ" in ev:  # our feed writes a repeated-hour time in UTC, its zone here
        zone_name = _zone_name(str(ev.get("X-TRACKER-TZ", ""))) or floating_tz
    item.tz = zone_name
    item.start_utc = check_instant(_instant(start, zone_name, "DTSTART"), "DTSTART")
    end, duration = _value(ev, "DTEND"), _value(ev, "DURATION")
    if isinstance(end, datetime):
        end_tzid = _tzid(ev, "DTEND")
        check_day(end.date(), "DTEND")
        end_zone = (zones.resolve(end_tzid, end.tzinfo, (end.year, end.year), configured)
                    if end_tzid and end_tzid != tzid else zone_name)
        item.end_utc = check_instant(_instant(end, end_zone or zone_name, "DTEND"), "DTEND")
    elif isinstance(duration, timedelta):
        item.end_utc = _plus(item.start_utc, duration)
    else:
        item.end_utc = item.start_utc
    if item.end_utc <= item.start_utc:
        item.end_utc = item.start_utc + DEFAULT_DURATION


def _instant(value: datetime, zone_name: str, field: str) -> datetime:
    """UTC instant of a DTSTART/DTEND: UTC and IANA values as given, others as wall time."""
    zone = tp.parse_zone(zone_name, field)
    if value.tzinfo is None:  # floating, or a TZID icalendar could not resolve
        try:
            return tp.localize(value, zone, field).astimezone(UTC)
        except TrackerError as exc:
            raise _Skip(exc.message) from None
    if value.utcoffset() == timedelta(0) and str(value.tzinfo) in ("UTC", "UTC+00:00"):
        return value.astimezone(UTC)
    # A Windows or custom VTIMEZONE: trust the wall-clock time and our IANA zone's rules.
    return value.replace(tzinfo=zone).astimezone(UTC)


def _all_day(item: Incoming, ev: icalendar.cal.Component, start: date, tz: str) -> None:
    if item.is_deadline:
        raise _Skip("a deadline needs a time; X-TRACKER-KIND on an all-day item")
    check_day(start, "DTSTART")
    end, duration = _value(ev, "DTEND"), _value(ev, "DURATION")
    if isinstance(end, date) and not isinstance(end, datetime) and end > start:
        last = check_day(end - timedelta(days=1), "DTEND")
    elif isinstance(duration, timedelta) and duration.days > 0:
        last = _plus(tp.start_of_day(start, "UTC"), timedelta(days=duration.days - 1)).date()
    else:
        last = start
    check_day(last + timedelta(days=1), "DTEND")  # the exclusive end too
    item.all_day, item.start_date, item.end_date, item.tz = True, start, last, tz
    item.start_utc = tp.start_of_day(start, tz)
    item.end_utc = tp.start_of_day(last + timedelta(days=1), tz)


def _deadline_fields(item: Incoming, ev: icalendar.cal.Component) -> None:
    item.description = split_description(item.description)
    opens = str(ev.get("X-TRACKER-OPENS", "")).strip()
    if opens:
        item.opens_utc = check_instant(_utc_text(opens), "X-TRACKER-OPENS")
    item.opens_date = _date_text(str(ev.get("X-TRACKER-OPENS-DATE", "")).strip())
    item.due_date = _date_text(str(ev.get("X-TRACKER-DUE-DATE", "")).strip())
    for name, day in (("X-TRACKER-OPENS-DATE", item.opens_date),
                      ("X-TRACKER-DUE-DATE", item.due_date)):
        if day is not None:
            check_day(day, name)
    item.email = str(ev.get("X-TRACKER-EMAIL", "")).strip()


def _utc_text(text: str) -> datetime:
    return datetime.strptime(text.replace("Z", "+0000"), "%Y%m%dT%H%M%S%z").astimezone(UTC)


def _date_text(text: str) -> date | None:
    return date.fromisoformat(f"{text[:4]}-{text[4:6]}-{text[6:8]}") if text else None


def _aware(prop: object) -> datetime | None:
    value = getattr(prop, "dt", None)
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC)
    return None


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
