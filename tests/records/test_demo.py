"""The demo season: placed relative to `now`, marked as demo data, a first reminder within
the first minutes, whatever the day and the clock changes around it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from tracker.config import Config
from tracker.db.engine import session_scope
from tracker.records.demo import load_demo
from tracker.records.models import Deadline, Event
from tracker.records.sample import is_empty
from tracker.reminders.planner import ReminderSettings, effective_offsets, plan_member

VIENNA = ZoneInfo("Europe/Vienna")


@pytest.mark.parametrize("now", [
    datetime(2026, 11, 26, 5, 40, 17, tzinfo=UTC),
    datetime(2027, 3, 20, 23, 59, 50, tzinfo=UTC),  # the first reminder crosses midnight
    datetime(2027, 10, 22, 12, 0, tzinfo=UTC),  # Vienna falls back inside the 10 days
    datetime(2028, 2, 28, 9, 30, tzinfo=UTC),  # leap year
])
def test_demo_season_relative_to_now(config: Config, now: datetime) -> None:
    url = config.database_url
    with session_scope(url) as s:
        assert is_empty(s)
        assert load_demo(s, host="tracker.example.org", now=now) == (2, 5)
    with session_scope(url) as s:
        events = list(s.scalars(select(Event)))
        deadlines = list(s.scalars(select(Deadline)))
        assert len(events) == 2 and len(deadlines) == 5
        for item in [*events, *deadlines]:
            assert item.title.startswith("DEMO: "), item.title
            assert "demo" in (item.series if isinstance(item, Event) else item.all_series)
            text = item.description if isinstance(item, Event) else item.instructions
            assert "Demo data" in text and "not a real UN date" in text
        by_id = {d.id: d for d in deadlines}
        reg = by_id["demo-registration"]
        left = reg.due_utc - now
        assert timedelta(days=10) <= left < timedelta(days=10, minutes=2)
        # The reminder due in the first minutes: the 240h offset, exact, for a member without
        # offsets of their own, in any zone.
        settings = ReminderSettings.from_config(config.reminders)
        offsets = effective_offsets(None, reg.remind, reg.kind, settings)
        for zone in ("Africa/Lagos", "America/Halifax", "Asia/Karachi"):
            first = plan_member(reg.due_utc, offsets, zone, settings.local_hour)[0]
            assert first.offset == "240h"
            assert now + timedelta(seconds=30) <= first.at <= now + timedelta(seconds=90)
        # The session about five weeks ahead on a Monday; the speakers' list closes at noon
        # Vienna on its opening day; the ground-pass windows on the Friday before and Monday.
        wg = next(e for e in events if e.id == "demo-wg")
        assert wg.all_day and wg.start_date is not None and wg.start_date.weekday() == 0
        today = now.astimezone(VIENNA).date()
        assert timedelta(days=35) <= wg.start_date - today < timedelta(days=42)
        speakers = by_id["demo-speakers"].due_utc.astimezone(VIENNA)
        assert (speakers.date(), speakers.hour, speakers.minute) == (wg.start_date, 12, 0)
        assert by_id["demo-speakers"].opens_utc is not None
        assert by_id["demo-speakers"].opens_utc <= now + timedelta(minutes=1)
        friday = by_id["demo-ground-pass-fri"]
        assert friday.opens_utc is not None
        assert friday.due_utc.astimezone(VIENNA).weekday() == 4
        assert (friday.opens_utc.astimezone(VIENNA).hour,
                friday.due_utc.astimezone(VIENNA).hour) == (9, 13)
        assert by_id["demo-side-event"].status == "cancelled"
        meeting = next(e for e in events if e.id == "demo-informal")
        local = meeting.start_utc.astimezone(VIENNA)
        assert (local.weekday(), local.hour, local.minute) == (3, 15, 0)
        assert (local.year * 12 + local.month) - (now.year * 12 + now.month) == 1  # next month
        assert meeting.end_utc - meeting.start_utc == timedelta(minutes=90)
