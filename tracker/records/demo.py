"""A demo season placed relative to `now`, so a newcomer's `make run` has something coming.

The COP12 sample is historical (2024); this adds, in Vienna time and through the same services
and checks as the CLI, a working-group session about five weeks ahead with its deadlines, an
informal meeting next month and a cancelled side-event call. Every title starts with "DEMO:"
and every description says it is demo data, and every item carries the series tag `demo`, so
the secretary can tell (and filter) them from real records.

The registration closes ten days from `now` and asks for a reminder 240 hours before (an exact
offset, not a day offset at 09:00), which falls on the first whole minute at least
`FIRST_REMINDER_LEAD` after `now`: the scheduler writes the first .eml while the newcomer
watches.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from tracker.records.deadlines import DeadlineInput, add_deadline, cancel_deadline
from tracker.records.events import EventInput, add_event

ZONE = "Europe/Vienna"
FIRST_REMINDER_LEAD = timedelta(seconds=30)
REGISTRATION_DAYS = 10
NOTE = ("Demo data: placed relative to {day} by `tracker init --demo` to show the page and the "
        "reminders; not a real UN date.")


def _wall(day: date, hour: int, minute: int = 0) -> str:
    return f"{day.isoformat()}T{hour:02d}:{minute:02d}"


def _monday_on_or_after(day: date) -> date:
    return day + timedelta(days=(7 - day.weekday()) % 7)


def _first_thursday_of_next_month(day: date) -> date:
    first = (day.replace(day=1) + timedelta(days=32)).replace(day=1)
    return first + timedelta(days=(3 - first.weekday()) % 7)


def load_demo(session: Session, *, host: str, now: datetime) -> tuple[int, int]:
    """Record the demo season; returns (events, deadlines) added."""
    zone = ZoneInfo(ZONE)
    today = now.astimezone(zone).date()
    note = NOTE.format(day=today.isoformat())
    opening = _monday_on_or_after(today + timedelta(days=35))
    meeting = _first_thursday_of_next_month(today)
    # In UTC: "+ 240 hours" on a Vienna wall clock would be 239 or 241 real hours across a
    # clock change, and the first reminder would fall an hour early (in the past) or late.
    first = (now + FIRST_REMINDER_LEAD).astimezone(UTC).replace(second=0, microsecond=0)
    first += timedelta(minutes=1)
    reg_due = (first + timedelta(hours=24 * REGISTRATION_DAYS)).astimezone(zone)

    def event(event_id: str, values: EventInput) -> None:
        add_event(session, values, event_id=event_id, default_tz=ZONE, host=host, now=now)

    def deadline(deadline_id: str, values: DeadlineInput) -> None:
        add_deadline(session, values, deadline_id=deadline_id, default_tz=ZONE, host=host,
                     now=now)

    event("demo-wg", EventInput(
        title="DEMO: Working Group on Trafficking in Persons (demo session)",
        start=opening.isoformat(), end=(opening + timedelta(days=3)).isoformat(), tz=ZONE,
        series=["untoc-wg", "demo"], location="Vienna International Centre, Board Room D",
        mode="hybrid", url="https://www.unodc.org/", description=note))
    event("demo-informal", EventInput(
        title="DEMO: Alliance informal meeting (online)",
        start=_wall(meeting, 15), end="16:30", tz=ZONE, series=["informal", "demo"],
        mode="online", description=note))
    deadline("demo-registration", DeadlineInput(
        title="DEMO: Register on INDICO for the working group", kind="registration",
        event="demo-wg", due=reg_due.isoformat(timespec="minutes"), tz=ZONE,  # with its offset:
        # a wall time in the hour that repeats in autumn would be read as the first one
        url="https://indico.un.org/", remind="240h,3d,1d",
        notes="All participants register on INDICO, including those who attend online. " + note))
    deadline("demo-speakers", DeadlineInput(
        title="DEMO: List of speakers closes (noon Vienna, opening day)", kind="speakers-list",
        event="demo-wg", opens=now.astimezone(zone).strftime("%Y-%m-%dT%H:%M"),
        due=_wall(opening, 12), tz=ZONE, email="untoc.wg@example.org",
        notes="Send the speaker's name and the agenda item. " + note))
    friday = opening - timedelta(days=3)
    deadline("demo-ground-pass-fri", DeadlineInput(
        title="DEMO: Ground pass pickup (Friday window)", kind="ground-pass", event="demo-wg",
        opens=_wall(friday, 9), due=_wall(friday, 13), tz=ZONE,
        location="Vienna International Centre, Gate 1 (pass office)",
        notes="Bring your passport and the INDICO confirmation. " + note))
    deadline("demo-ground-pass-mon", DeadlineInput(
        title="DEMO: Ground pass pickup (Monday window)", kind="ground-pass", event="demo-wg",
        opens=_wall(opening, 8), due=_wall(opening, 11), tz=ZONE,
        location="Vienna International Centre, Gate 1 (pass office)",
        notes="Bring your passport and the INDICO confirmation. " + note))
    deadline("demo-side-event", DeadlineInput(
        title="DEMO: Side-event applications (called off)", kind="application", event="demo-wg",
        due=(opening - timedelta(days=14)).isoformat(), tz=ZONE,
        notes="Shows how a cancelled deadline looks: struck through while it stays in the "
              "feeds. " + note))
    cancel_deadline(session, "demo-side-event", now=now)
    return 2, 5
