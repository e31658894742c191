"""Events, deadlines and members for the feed tests, as model rows with every column filled.

The matrix covers the members' zones on both sides of DST changes, zones without DST, Mexico
City before and after it dropped DST (2022), all-day items, cancelled items and titles with
characters iCalendar must escape.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from tracker.records.models import Deadline, Event, Member

CREATED = datetime(2024, 8, 1, 9, 0, tzinfo=UTC)
NOW = datetime(2024, 9, 1, 8, 0, tzinfo=UTC)
TRICKY = 'Plenary; CR7, "Board" \\ Ministerial\nsegment: Łódź–Zürich 東京 ✓'

# (id, zone, local start, minutes, series)
TIMED = [
    ("vienna-summer", "Europe/Vienna", datetime(2024, 10, 14, 12, 0), 90, ["untoc-cop"]),
    ("vienna-winter", "Europe/Vienna", datetime(2025, 1, 14, 12, 0), 90, ["informal"]),
    ("vienna-fallback-day", "Europe/Vienna", datetime(2024, 10, 27, 15, 0), 60, ["informal"]),
    ("ny-before", "America/New_York", datetime(2024, 11, 1, 9, 0), 60, ["csw"]),
    ("ny-after", "America/New_York", datetime(2024, 11, 4, 9, 0), 60, ["csw"]),
    ("halifax-before", "America/Halifax", datetime(2024, 3, 8, 10, 0), 60, ["cd"]),
    ("halifax-after", "America/Halifax", datetime(2024, 3, 11, 10, 0), 60, ["cd"]),
    ("tokyo", "Asia/Tokyo", datetime(2021, 3, 7, 10, 0), 120, ["congress"]),
    ("lagos", "Africa/Lagos", datetime(2024, 10, 14, 15, 0), 60, ["side-event"]),
    ("karachi", "Asia/Karachi", datetime(2024, 10, 14, 15, 0), 60, ["side-event"]),
    ("mexico-2021", "America/Mexico_City", datetime(2021, 7, 15, 12, 0), 60, ["ahc"]),
    ("mexico-2024", "America/Mexico_City", datetime(2024, 7, 15, 12, 0), 60, ["ahc"]),
    # inside the hour that happens twice (the first occurrence): the three measured cases
    ("vienna-repeated", "Europe/Vienna", datetime(2024, 10, 27, 2, 30), 60, ["informal"]),
    ("mexico-repeated", "America/Mexico_City", datetime(2021, 10, 31, 1, 30), 60, ["ahc"]),
    ("halifax-repeated", "America/Halifax", datetime(2027, 11, 7, 1, 30), 20, ["cd"]),
]


def aware(local: datetime, tz: str) -> datetime:
    return local.replace(tzinfo=ZoneInfo(tz)).astimezone(UTC)


def timed_event(ident: str, tz: str, local: datetime, minutes: int, series: list[str],
                **values: object) -> Event:
    start = aware(local, tz)
    fields: dict[str, object] = dict(
        id=ident, uid=f"{ident}.event@tracker.example.org", title=f"Event {ident}",
        series=series, tz=tz, all_day=False, start_utc=start,
        end_utc=start + timedelta(minutes=minutes), start_date=None, end_date=None,
        location="Vienna International Centre, CR7", mode="in-person",
        url=f"https://indico.un.org/event/{ident}", description=f"About {ident}",
        status="confirmed", visibility="public", sequence=0, created_at=CREATED,
        modified_at=CREATED, cancelled_at=None,
    )
    fields.update(values)
    return Event(**fields)


def all_day_event(ident: str, tz: str, first: date, last: date, series: list[str],
                  **values: object) -> Event:
    fields: dict[str, object] = dict(
        id=ident, uid=f"{ident}.event@tracker.example.org", title=f"Event {ident}",
        series=series, tz=tz, all_day=True,
        start_utc=aware(datetime(first.year, first.month, first.day), tz),
        end_utc=aware(datetime(last.year, last.month, last.day) + timedelta(days=1), tz),
        start_date=first, end_date=last, location="", mode="in-person", url="",
        description="", status="confirmed", visibility="public", sequence=0,
        created_at=CREATED, modified_at=CREATED, cancelled_at=None,
    )
    fields.update(values)
    return Event(**fields)


def deadline(ident: str, tz: str, due_local: datetime, *, event: Event | None = None,
             opens_local: datetime | None = None, due_date: date | None = None,
             **values: object) -> Deadline:
    fields: dict[str, object] = dict(
        id=ident, uid=f"{ident}.deadline@tracker.example.org", title=f"Deadline {ident}",
        kind="registration", series=[], tz=tz, due_utc=aware(due_local, tz), due_date=due_date,
        opens_utc=aware(opens_local, tz) if opens_local else None, opens_date=None,
        instructions="Register on INDICO; bring your passport.",
        url="https://indico.un.org/event/cop12/registration", email="registry@example.org",
        location="", status="open", visibility="public", remind=None, sequence=0,
        created_at=CREATED, modified_at=CREATED, cancelled_at=None,
    )
    fields.update(values)
    dl = Deadline(**fields)
    if event is not None:
        dl.event = event
    return dl


def matrix() -> tuple[list[Event], list[Deadline]]:
    """The events and deadlines every feed test publishes (all public)."""
    events = [timed_event(*row) for row in TIMED]
    events.append(all_day_event("cop12", "Europe/Vienna", date(2024, 10, 14),
                                date(2024, 10, 18), ["untoc-cop"], title=TRICKY))
    events.append(all_day_event("kyoto-day", "Asia/Tokyo", date(2021, 3, 7), date(2021, 3, 7),
                                ["congress"]))
    events.append(timed_event("cancelled-side", "Europe/Vienna", datetime(2024, 10, 15, 13, 0),
                              50, ["side-event"], status="cancelled", sequence=1,
                              cancelled_at=NOW - timedelta(days=1),
                              modified_at=NOW - timedelta(days=1)))
    cop12 = events[-3]
    deadlines = [
        deadline("speakers", "Europe/Vienna", datetime(2024, 10, 14, 12, 0), event=cop12,
                 opens_local=datetime(2024, 9, 16, 9, 0), kind="speakers-list"),
        deadline("registration", "Europe/Vienna", datetime(2024, 10, 4, 23, 59), event=cop12,
                 due_date=date(2024, 10, 4)),
        deadline("csw-statement", "America/New_York", datetime(2025, 3, 3, 17, 0),
                 series=["csw"], kind="submission", title="Statement; CSW, \\ draft"),
        # due in Vienna's repeated hour: both DTSTART and DTEND fall inside it
        deadline("fallback-due", "Europe/Vienna", datetime(2024, 10, 27, 2, 15),
                 series=["informal"], kind="submission"),
        deadline("cancelled-fee", "Africa/Lagos", datetime(2024, 11, 1, 12, 0),
                 kind="payment", status="cancelled", sequence=2,
                 cancelled_at=NOW - timedelta(days=2), modified_at=NOW - timedelta(days=2)),
    ]
    return events, deadlines


def hidden_rows() -> tuple[list[Event], list[Deadline]]:
    """Items that must never reach a public feed."""
    events = [
        timed_event("members-briefing", "Europe/Vienna", datetime(2024, 10, 13, 18, 0), 60,
                    ["untoc-cop"], visibility="members"),
        timed_event("private-dinner", "Europe/Vienna", datetime(2024, 10, 13, 20, 0), 60,
                    ["untoc-cop"], visibility="private"),
        timed_event("members-csw", "America/New_York", datetime(2025, 3, 10, 18, 0), 60,
                    ["csw"], visibility="members"),
    ]
    deadlines = [deadline("members-nomination", "Europe/Vienna", datetime(2024, 9, 20, 12, 0),
                          kind="nomination", series=["untoc-cop"], visibility="members")]
    return events, deadlines


def member(email: str, token: str, series: list[str], **values: object) -> Member:
    fields: dict[str, object] = dict(
        email=email, name=email.split("@")[0], organisation="NGO", tz="Africa/Lagos",
        series=series, kinds=[], remind=None, active=True, feed_token=token,
        unsubscribe_token=token[::-1], created_at=CREATED, modified_at=CREATED,
    )
    fields.update(values)
    return Member(**fields)


def add_all(session: Session, rows: list[object]) -> None:
    session.add_all(rows)
    session.flush()


def expected_times(event_or_deadline: Event | Deadline) -> tuple[object, object]:
    """What every parser must read: dates (exclusive end) for all-day items, else UTC instants."""
    if isinstance(event_or_deadline, Event):
        ev = event_or_deadline
        if ev.all_day:
            assert ev.start_date is not None and ev.end_date is not None
            return ev.start_date, ev.end_date + timedelta(days=1)
        return ev.start_utc, ev.end_utc
    dl = event_or_deadline
    end = dl.due_utc + timedelta(minutes=15)
    if dl.due_date is not None:
        end = min(end, aware(datetime.combine(dl.due_date + timedelta(days=1), datetime.min.time()), dl.tz))
    return dl.due_utc, end
