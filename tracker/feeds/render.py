"""Items -> iCalendar feeds (RFC 5545), written by the icalendar library. Pure: no I/O, no clock.

Choices a subscriber will notice:
- A deadline is a 15-minute event that STARTS at the due instant (calendars show the start
  time, "12:00 Speakers' list closes"). A deadline due "on a date" (23:59 local) ends at the
  local midnight instead, so it stays inside its day. Each deadline carries a VALARM one day
  before (Google ignores VALARMs in subscribed feeds; Apple and Thunderbird show them).
- A time inside the hour that repeats when clocks go back (02:30 on the night Vienna falls
  back) is written in UTC (``DTSTART:20241027T003000Z``) with the zone kept in X-TRACKER-TZ:
  with a TZID, icalendar, vobject and calcurse read the first of the two 02:30s while libical
  (Evolution), ical.js (Thunderbird) and khal read the second, an hour apart. Every other
  time keeps its TZID, so calendars show it in its own zone.
- DTSTAMP is the item's modified_at, so a calendar nobody changed republishes byte-identical.
- Cancelled items stay (STATUS:CANCELLED) for `cancelled_days` after cancellation, so
  subscribed calendars remove them, then drop out.
- Our own properties, for a faithful `tracker import ics` round trip: X-TRACKER-KIND (the
  deadline kind; absent on events), X-TRACKER-OPENS / X-TRACKER-OPENS-DATE (window opening),
  X-TRACKER-DUE-DATE (due "on a date"), X-TRACKER-EMAIL, X-TRACKER-MODE (event mode), X-TRACKER-TZ (zone of an all-day
  event).
- A recurring event is one VEVENT with RRULE (UNTIL in UTC), RDATE and EXDATE (one value per
  line: ical.js reads only the first of a multi-valued line in places) in the event's zone,
  followed by one VEVENT per moved occurrence with the same UID and a RECURRENCE-ID.
- Each VEVENT's text is rendered once per change: `VeventCache` keys it by UID and a
  fingerprint of everything it shows, so publishing 30,000 unchanged items is a concatenation.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cached_property, lru_cache
from typing import Protocol
from zoneinfo import ZoneInfo

from icalendar import Alarm, Calendar, Component
from icalendar import Event as VEvent
from icalendar.caselessdict import canonsort_keys
from icalendar.prop import vDuration, vRecur, vText

from tracker.config import Config
from tracker.errors import ROW_ERRORS, TrackerError
from tracker.feeds.vtimezone import vtimezone_text
from tracker.records.recurrence import Change, last_year
from tracker.timeparse import start_of_day

RENDER_VERSION = "5"  # bump when the VEVENT layout changes: every cached text is re-rendered
PRODID = "-//Alliance NGO tracker//tracker feeds 1.0//EN"
DEADLINE_MINUTES = 15
ALARM_BEFORE = timedelta(days=1)
VISIBILITY_CLASS = {"public": "PUBLIC", "members": "CONFIDENTIAL", "private": "PRIVATE"}
DEADLINE_STATUS = {"open": "CONFIRMED", "extended": "CONFIRMED", "cancelled": "CANCELLED"}
FOOTER_LABELS = ("Opens: ", "Due: ", "E-mail: ", "Event: ")


@dataclass(frozen=True)
class FeedSettings:
    """The [calendars] values a feed shows."""

    name: str
    refresh: str = "PT1H"
    cancelled_days: int = 60

    @property
    def refresh_delta(self) -> timedelta:
        try:
            # icalendar leaves vDuration.from_ical unannotated (it returns a timedelta here).
            delta: timedelta = vDuration.from_ical(self.refresh)  # type: ignore[no-untyped-call]
            return delta
        except ValueError:
            raise TrackerError(
                "[calendars] refresh", f"'{self.refresh}' is not an ISO 8601 duration such as PT1H"
            ) from None

    @property
    def grace(self) -> timedelta:
        """How long a cancelled item stays in the feeds after its cancellation."""
        return timedelta(days=self.cancelled_days)

    @classmethod
    def from_config(cls, config: Config) -> FeedSettings:
        cal = config.calendars
        return cls(name=cal.name, refresh=cal.refresh, cancelled_days=cal.cancelled_days)


@dataclass(frozen=True)
class FeedItem:
    """A snapshot of everything one VEVENT shows; its repr is the cache fingerprint."""

    uid: str
    kind: str  # "event" or a deadline kind such as "registration"
    title: str
    tz: str
    start_utc: datetime
    end_utc: datetime
    all_day: bool
    start_date: date | None
    end_date: date | None  # exclusive (DTEND of an all-day item)
    location: str
    url: str
    description: str
    status: str  # STATUS value: CONFIRMED | TENTATIVE | CANCELLED
    visibility: str
    series: tuple[str, ...]
    sequence: int
    created_at: datetime
    modified_at: datetime
    cancelled_at: datetime | None
    extra: tuple[tuple[str, str], ...] = ()  # X-TRACKER-* properties
    rrule: str = ""  # recurring events: the RRULE text
    rdates: tuple[datetime, ...] = ()
    exdates: tuple[datetime, ...] = ()  # originals of cancelled occurrences
    overrides: tuple[tuple[datetime, datetime, datetime], ...] = ()  # (original, start, end)
    last_year: int | None = None  # last local year an occurrence can fall in

    @property
    def is_deadline(self) -> bool:
        return self.kind != "event"

    @cached_property  # an item sits in several feeds; hash it once
    def fingerprint(self) -> str:
        return hashlib.sha256(f"{RENDER_VERSION}|{self!r}".encode()).hexdigest()[:32]

    @cached_property  # likewise: every feed the item is in asks for its VTIMEZONE span
    def local_years(self) -> tuple[int, int] | None:
        """(first, last) local year of the item in its zone; None when all-day (no TZID)."""
        if self.all_day:
            return None
        zone = ZoneInfo(self.tz)
        lo = self.start_utc.astimezone(zone).year
        return lo, max(self.end_utc.astimezone(zone).year, self.last_year or 0)


class EventLike(Protocol):
    """What `item_from_event` reads: an Event, or a column-only row of one (tracker.feeds.rows)."""

    @property
    def uid(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def tz(self) -> str: ...
    @property
    def start_utc(self) -> datetime: ...
    @property
    def end_utc(self) -> datetime: ...
    @property
    def all_day(self) -> bool: ...
    @property
    def start_date(self) -> date | None: ...
    @property
    def end_date(self) -> date | None: ...
    @property
    def location(self) -> str | None: ...
    @property
    def mode(self) -> str | None: ...
    @property
    def url(self) -> str | None: ...
    @property
    def description(self) -> str | None: ...
    @property
    def status(self) -> str: ...
    @property
    def visibility(self) -> str: ...
    @property
    def series(self) -> Sequence[str] | None: ...
    @property
    def sequence(self) -> int: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def modified_at(self) -> datetime: ...
    @property
    def cancelled_at(self) -> datetime | None: ...
    @property
    def rrule(self) -> str | None: ...
    @property
    def rdates(self) -> Sequence[str] | None: ...


class TitleLike(Protocol):
    """A deadline's event as far as its feed item shows it."""

    @property
    def title(self) -> str: ...


class DeadlineLike(Protocol):
    """What `item_from_deadline` reads: a Deadline, or a column-only row of one with `event`
    and `all_series` filled in from the joined event (tracker.feeds.rows)."""

    @property
    def uid(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def tz(self) -> str: ...
    @property
    def due_utc(self) -> datetime: ...
    @property
    def due_date(self) -> date | None: ...
    @property
    def opens_utc(self) -> datetime | None: ...
    @property
    def opens_date(self) -> date | None: ...
    @property
    def first_due_utc(self) -> datetime | None: ...
    @property
    def first_due_date(self) -> date | None: ...
    @property
    def instructions(self) -> str | None: ...
    @property
    def url(self) -> str | None: ...
    @property
    def email(self) -> str | None: ...
    @property
    def location(self) -> str | None: ...
    @property
    def status(self) -> str: ...
    @property
    def visibility(self) -> str: ...
    @property
    def all_series(self) -> Sequence[str]: ...
    @property
    def sequence(self) -> int: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def modified_at(self) -> datetime: ...
    @property
    def cancelled_at(self) -> datetime | None: ...
    @property
    def event(self) -> TitleLike | None: ...


def item_from_event(ev: EventLike, changes: Iterable[Change] = ()) -> FeedItem:
    """Snapshot an Event (with the changes to its occurrences, if recurring) for rendering."""
    end_date = ev.end_date + timedelta(days=1) if ev.all_day and ev.end_date else None
    extra: tuple[tuple[str, str], ...] = (("X-TRACKER-MODE", ev.mode),) if ev.mode else ()
    if ev.all_day:  # VALUE=DATE has no TZID; keep the zone for a faithful re-import
        extra += (("X-TRACKER-TZ", ev.tz),)
    recurring: dict[str, object] = {}
    if ev.rrule:
        rdates = tuple(sorted(datetime.fromisoformat(t) for t in ev.rdates or ()))
        done = sorted(changes, key=lambda c: c.original)
        moved = tuple((c.original, c.start_utc or c.original,
                       c.end_utc or (c.start_utc or c.original) + (ev.end_utc - ev.start_utc))
                      for c in done if not c.cancelled and c.start_utc is not None)
        years = [last_year(ev.rrule, tz=ev.tz, start_utc=ev.start_utc, rdates=rdates)]
        years += [m[2].astimezone(ZoneInfo(ev.tz)).year for m in moved]
        recurring = {
            "rrule": ev.rrule, "rdates": rdates, "overrides": moved, "last_year": max(years),
            "exdates": tuple(c.original for c in done if c.cancelled),
        }
    return FeedItem(
        uid=ev.uid, kind="event", title=ev.title, tz=ev.tz, start_utc=ev.start_utc,
        end_utc=ev.end_utc, all_day=ev.all_day, start_date=ev.start_date if ev.all_day else None,
        end_date=end_date, location=ev.location or "", url=ev.url or "",
        description=ev.description or "", status=ev.status.upper(), visibility=ev.visibility,
        series=tuple(ev.series or ()), sequence=ev.sequence, created_at=ev.created_at,
        modified_at=ev.modified_at, cancelled_at=ev.cancelled_at, extra=extra,
        **recurring,  # type: ignore[arg-type]  # the keys and types of the fields above
    )


def item_from_deadline(dl: DeadlineLike) -> FeedItem:
    """Snapshot a Deadline as a short event at its due instant."""
    end = dl.due_utc + timedelta(minutes=DEADLINE_MINUTES)
    if dl.due_date is not None:  # due at 23:59 local: end at midnight, inside the day
        end = min(end, start_of_day(dl.due_date + timedelta(days=1), dl.tz))
    extra: list[tuple[str, str]] = [("X-TRACKER-KIND", dl.kind)]
    if dl.opens_utc is not None:
        extra.append(("X-TRACKER-OPENS", dl.opens_utc.strftime("%Y%m%dT%H%M%SZ")))
    if dl.opens_date is not None:
        extra.append(("X-TRACKER-OPENS-DATE", dl.opens_date.strftime("%Y%m%d")))
    if dl.due_date is not None:
        extra.append(("X-TRACKER-DUE-DATE", dl.due_date.strftime("%Y%m%d")))
    if dl.email:
        extra.append(("X-TRACKER-EMAIL", dl.email))
    return FeedItem(
        uid=dl.uid, kind=dl.kind, title=dl.title, tz=dl.tz, start_utc=dl.due_utc, end_utc=end,
        all_day=False, start_date=None, end_date=None, location=dl.location or "",
        url=dl.url or "", description=deadline_description(dl),
        status=DEADLINE_STATUS.get(dl.status, "CONFIRMED"), visibility=dl.visibility,
        series=tuple(dl.all_series), sequence=dl.sequence, created_at=dl.created_at,
        modified_at=dl.modified_at, cancelled_at=dl.cancelled_at, extra=tuple(extra),
    )


def deadline_description(dl: DeadlineLike) -> str:
    """Instructions, then a footer with the window, the due time, e-mail and event."""
    footer = []
    if dl.opens_utc is not None:
        footer.append(f"Opens: {_local_text(dl.opens_utc, dl.tz)}")
    due = (f"end of {dl.due_date:%a %-d %b %Y} ({dl.tz})" if dl.due_date is not None
           else _local_text(dl.due_utc, dl.tz))
    first = dl.first_due_utc
    if dl.status == "extended" and first is not None and first != dl.due_utc:
        due += f"; extended from {day_text(first, dl.first_due_date, dl.tz)}"
    footer.append(f"Due: {due}")
    if dl.email:
        footer.append(f"E-mail: {' '.join(dl.email.split())}")
    if dl.event is not None:  # one line each, so the footer can be told from instructions
        footer.append(f"Event: {' '.join(dl.event.title.split())}")
    instructions = (dl.instructions or "").strip()
    return "\n\n".join(p for p in (instructions, "\n".join(footer)) if p)


def split_description(text: str) -> str:
    """The instructions part of a description written by `deadline_description`."""
    head, sep, tail = text.rpartition("\n\n")
    lines = (tail if sep else text).split("\n")
    if all(line.startswith(FOOTER_LABELS) for line in lines):
        return head if sep else ""
    return text


def day_text(utc: datetime, on_date: date | None, tz: str) -> str:
    """'Fri 4 Oct 2024' for a moment due on a date, else 'Fri 4 Oct 2024 12:00' in `tz`."""
    if on_date is not None:
        return f"{on_date:%a %-d %b %Y}"
    return f"{utc.astimezone(ZoneInfo(tz)):%a %-d %b %Y %H:%M}"


def repeated_hour(utc: datetime, zone: ZoneInfo) -> bool:
    """Whether the wall-clock time of `utc` in `zone` happens twice (clocks going back)."""
    local = utc.astimezone(zone)
    return local.replace(fold=1 - local.fold).utcoffset() != local.utcoffset()


def _local_text(utc: datetime, tz: str) -> str:
    return f"{utc.astimezone(ZoneInfo(tz)):%Y-%m-%d %H:%M} {tz}"


def render_vevent(item: FeedItem) -> str:
    """One VEVENT as text (CRLF line ends, folded at 75 octets, escaped by icalendar); a
    recurring event's text also holds one VEVENT per moved occurrence.

    Each content line is written by icalendar (`_line`) and remembered by property and value:
    most lines repeat across items (CLASS, STATUS, LOCATION, a shared DESCRIPTION, DTSTAMP of
    one import), and icalendar folds a line character by character (about 1 us a character),
    which was most of the ~1 ms a VEVENT cost. The lines are ordered as icalendar orders a
    component's properties; `render_vevent_plain` builds the same layout as icalendar
    components, and the tests hold the two byte-identical."""
    return "".join(_text(part) for part in vevent_layouts(item))


def render_vevent_plain(item: FeedItem) -> str:
    """`render_vevent` the plain way: icalendar components built with `add`, then `to_ical`.

    The reference the tests compare `render_vevent` with, byte for byte."""
    texts = []
    for part in vevent_layouts(item):
        ical: bytes = _component(part).to_ical()  # icalendar leaves to_ical unannotated
        texts.append(ical.decode("utf-8"))
    return "".join(texts)


@dataclass(frozen=True)
class Layout:
    """One component as the (name, value) pairs given to icalendar's `Component.add`, in that
    order, and its subcomponents."""

    kind: type[Component]
    props: list[tuple[str, object]]
    subs: tuple[Layout, ...] = ()


def vevent_layouts(item: FeedItem) -> list[Layout]:
    """The VEVENT of `item` (with RRULE, RDATE and EXDATE when recurring), then one VEVENT per
    moved occurrence."""
    main = _vevent(item, item.start_utc, item.end_utc, series=bool(item.rrule))
    if item.rrule:
        main.props.append(("RRULE", vRecur.from_ical(item.rrule)))
        main.props.extend(("RDATE", _feed_time(item, extra)) for extra in item.rdates)
        main.props.extend(("EXDATE", _feed_time(item, original)) for original in item.exdates)
    layouts = [main]
    for original, start, end in item.overrides:
        moved = _vevent(item, start, end)
        moved.props.append(("RECURRENCE-ID", _feed_time(item, original)))
        layouts.append(moved)
    return layouts


def _feed_time(item: FeedItem, utc: datetime) -> datetime | date:
    """An instant as DTSTART shows it: local time in the item's zone, or its date (all-day)."""
    local = utc.astimezone(ZoneInfo(item.tz))
    return local.date() if item.all_day else local


def _vevent(item: FeedItem, start_utc: datetime, end_utc: datetime,
            series: bool = False) -> Layout:
    """The VEVENT without recurrence properties. A single time in the repeated hour is in UTC;
    a series' DTSTART keeps its TZID, since its RRULE must repeat in local time."""
    props: list[tuple[str, object]] = [("UID", item.uid), ("SUMMARY", Text(item.title))]
    add = props.append
    if item.all_day and item.start_date and item.end_date:
        first = _feed_time(item, start_utc)
        add(("DTSTART", first))
        add(("DTEND", first + (item.end_date - item.start_date)))
    else:
        zone = ZoneInfo(item.tz)
        in_utc = False
        for name, utc in (("DTSTART", start_utc), ("DTEND", end_utc)):
            if repeated_hour(utc, zone) and not series:  # readers disagree on TZID: UTC
                add((name, utc))
                in_utc = True
            else:
                add((name, utc.astimezone(zone)))
        if in_utc:
            add(("X-TRACKER-TZ", item.tz))  # the zone for display and re-import
    add(("DTSTAMP", item.modified_at))
    add(("CREATED", item.created_at))
    add(("LAST-MODIFIED", item.modified_at))
    add(("SEQUENCE", item.sequence))
    add(("STATUS", item.status))
    add(("CLASS", VISIBILITY_CLASS.get(item.visibility, "PUBLIC")))
    add(("TRANSP", "TRANSPARENT" if item.is_deadline else "OPAQUE"))
    if item.description:
        add(("DESCRIPTION", Text(item.description)))
    if item.location:
        add(("LOCATION", Text(item.location)))
    if item.url:
        add(("URL", item.url))
    categories = ([f"deadline:{item.kind}"] if item.is_deadline else []) + list(item.series)
    if categories:
        add(("CATEGORIES", categories))
    props.extend(item.extra)
    subs: tuple[Layout, ...] = ()
    if item.is_deadline and item.status != "CANCELLED":
        subs = (Layout(Alarm, [("ACTION", "DISPLAY"),
                               ("DESCRIPTION", Text(f"Deadline tomorrow: {item.title}")),
                               ("TRIGGER", _TRIGGER)]),)
    return Layout(VEvent, props, subs)


_TRIGGER = vDuration(-ALARM_BEFORE)


class Text(vText):
    """A TEXT value escaped as RFC 5545 3.3.11 says, a literal backslash-N included.

    icalendar 7.3's escaping first takes the two characters `\\N` for the newline escape, so
    "Save to C:\\New folder" reached calendars as "Save to C:", a line break and "ew folder".
    Each piece between them is still escaped by icalendar; the backslash is escaped between."""

    def to_ical(self) -> bytes:
        return b"\\\\N".join(vText(part).to_ical() for part in self.split("\\N"))


def _component(layout: Layout) -> Component:
    component = layout.kind()
    for name, value in layout.props:
        component.add(name, value)
    for sub in layout.subs:
        component.add_component(_component(sub))
    return component


def _text(layout: Layout) -> str:
    """The text `_component(layout).to_ical()` writes, from remembered lines."""
    values: dict[str, list[object]] = {}
    for name, value in layout.props:
        values.setdefault(name, []).append(value)
    begin, end = _frame(layout.kind)
    parts = [begin]
    for name in _order(layout.kind, tuple(values)):
        parts += [_line(layout.kind, name, value) for value in values[name]]
    parts += [_text(sub) for sub in layout.subs]
    parts.append(end)
    return "".join(parts)


@lru_cache(maxsize=64)
def _frame(kind: type[Component]) -> tuple[str, str]:
    """BEGIN and END lines of a component, as icalendar writes them."""
    ical: bytes = kind().to_ical()
    begin, end = ical.decode("utf-8").split("\r\n")[:2]
    return begin + "\r\n", end + "\r\n"


@lru_cache(maxsize=1024)
def _order(kind: type[Component], names: tuple[str, ...]) -> list[str]:
    """Property names in the order icalendar writes them (Component.sorted_keys)."""
    return canonsort_keys(names, kind.canonical_order)


class _Lines:
    """Content lines by (component, property, value key), forgotten all at once when their text
    passes `max_chars` (keys hold values of about the same size): bounded memory in a
    long-running scheduler or server whatever the descriptions are."""

    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars
        self.texts: dict[tuple[object, ...], str] = {}
        self.chars = 0

    def line(self, kind: type[Component], name: str, value: object) -> str:
        key = _line_key(kind, name, value)
        if key is None:
            return _encode_line(kind, name, value)
        text = self.texts.get(key)
        if text is None:
            text = _encode_line(kind, name, value)
            if self.chars + len(text) > self.max_chars:
                self.texts.clear()
                self.chars = 0
            self.texts[key] = text
            self.chars += len(text)
        return text


_LINES = _Lines(max_chars=8_000_000)  # about 16 MB with the keys
_line = _LINES.line  # the content line(s) icalendar writes for one property, remembered


def _line_key(kind: type[Component], name: str, value: object) -> tuple[object, ...] | None:
    """A key equal only for values icalendar writes alike; None: not remembered.

    Aware datetimes compare by instant, so the key adds the tzinfo (UTC and Vienna differ)."""
    if isinstance(value, datetime):
        return kind, name, datetime, value, value.tzinfo, value.fold
    if isinstance(value, str | int | date):  # bool is an int: the type keeps them apart
        return kind, name, type(value), value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return kind, name, list, tuple(value)
    if isinstance(value, vDuration):
        return kind, name, vDuration, value.td
    return None


def _encode_line(kind: type[Component], name: str, value: object) -> str:
    """What `kind().to_ical()` writes for this one property (Component.add, content_line)."""
    component = kind()
    component.add(name, value)
    line = component.content_line(name, component[name])
    ical: bytes = line.to_ical()  # folded at 75 octets
    return ical.decode("utf-8") + "\r\n"


@dataclass
class VeventCache:
    """VEVENT texts by UID with the fingerprint they were rendered from.

    `entries` may be pre-loaded (e.g. from the database); `dirty` lists UIDs rendered anew.
    """

    entries: MutableMapping[str, tuple[str, str]] = field(default_factory=dict)
    dirty: set[str] = field(default_factory=set)

    def text(self, item: FeedItem) -> str:
        fingerprint = item.fingerprint
        found = self.entries.get(item.uid)
        if found is not None and found[0] == fingerprint:
            return found[1]
        text = render_vevent(item)
        self.entries[item.uid] = (fingerprint, text)
        self.dirty.add(item.uid)
        return text


Skipped = list[tuple[str, str]]  # (UID, why) of rows a feed left out


def renderable(items: Iterable[FeedItem], cache: VeventCache, skipped: Skipped) -> list[FeedItem]:
    """The items whose VEVENT and zone span can be rendered; the others go to `skipped`.

    A row no door lets in today (a year-9999 instant that overflows in local time, a zone
    tzdata lacks) must cost one item, not the whole feed."""
    good: list[FeedItem] = []
    for item in items:
        try:
            cache.text(item)
            item.local_years  # noqa: B018  # a zone tzdata lacks, a year that overflows
        except ROW_ERRORS as exc:
            skipped.append((item.uid, str(exc) or type(exc).__name__))
            continue
        good.append(item)
    return good


def visible(item: FeedItem, settings: FeedSettings, now: datetime) -> bool:
    """False for cancelled items whose grace period (cancelled_days) is over."""
    gone = hidden_from(item, settings)
    return gone is None or now < gone


def hidden_from(item: FeedItem, settings: FeedSettings) -> datetime | None:
    """The instant a cancelled item drops out of the feeds (None: it stays)."""
    since = cancelled_since(item)
    return None if since is None else since + settings.grace


def cancelled_since(item: FeedItem) -> datetime | None:
    """When a cancelled item's grace period starts (None: not cancelled)."""
    if item.status != "CANCELLED":
        return None
    return item.cancelled_at or item.modified_at


def render_calendar(
    items: Iterable[FeedItem],
    settings: FeedSettings,
    now: datetime,
    name: str | None = None,
    cache: VeventCache | None = None,
) -> bytes:
    """A whole VCALENDAR: calendar properties, one VTIMEZONE per zone used, the VEVENTs."""
    cache = cache if cache is not None else VeventCache()
    shown = sorted(
        (i for i in items if visible(i, settings, now)), key=lambda i: (i.start_utc, i.uid)
    )
    parts = [calendar_head(settings, name)]
    parts += vtimezone_parts(zones_used(shown))
    parts += [cache.text(i) for i in shown]
    parts.append(CALENDAR_END)
    return "".join(parts).encode("utf-8")


CALENDAR_END = "END:VCALENDAR\r\n"
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]+")  # not TAB: TEXT allows it


def calendar_head(settings: FeedSettings, name: str | None = None) -> str:
    """BEGIN:VCALENDAR and the calendar properties; a feed is head + VTIMEZONEs + VEVENTs + end.

    Control characters in the name (a member's name with a line break) become one space: a
    calendar name is one line, and icalendar refuses an unescaped newline in NAME.
    """
    title = _CONTROL.sub(" ", name or settings.name)
    cal = Calendar()
    cal.add("PRODID", PRODID)
    cal.add("VERSION", "2.0")
    cal.add("CALSCALE", "GREGORIAN")
    cal.add("METHOD", "PUBLISH")
    cal.add("NAME", Text(title))
    cal.add("X-WR-CALNAME", Text(title))
    refresh = settings.refresh_delta
    cal.add("REFRESH-INTERVAL", refresh, parameters={"VALUE": "DURATION"})
    cal.add("X-PUBLISHED-TTL", vDuration(refresh))
    ical: bytes = cal.to_ical()  # icalendar leaves to_ical's return type unannotated
    head = ical.decode("utf-8")
    if not head.endswith(CALENDAR_END):  # icalendar always ends a component so
        raise ValueError("icalendar wrote a calendar without END:VCALENDAR")
    return head[: -len(CALENDAR_END)]


def vtimezone_parts(years: dict[str, tuple[int, int]]) -> list[str]:
    """One VTIMEZONE text per zone (sorted by name) covering its (first, last) years."""
    return [vtimezone_text(zone, *span) for zone, span in sorted(years.items())]


def zones_used(items: Iterable[FeedItem]) -> dict[str, tuple[int, int]]:
    """Zone -> (first, last) local year of the timed items in it."""
    years: dict[str, tuple[int, int]] = {}
    for item in items:
        span = item.local_years
        if span is None:
            continue
        old = years.get(item.tz)
        years[item.tz] = (min(span[0], old[0]), max(span[1], old[1])) if old else span
    return years
