"""Feed items read column by column (`load_items`) equal the ones built from ORM objects, on
every store: equal items have equal fingerprints, so the cached VEVENTs stay valid."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import event, select
from sqlalchemy.orm import selectinload

from tests.helpers.feed_data import CREATED, add_all, deadline, timed_event
from tests.helpers.feeds import fill
from tracker.db.engine import session_scope
from tracker.feeds.render import FeedItem, item_from_deadline, item_from_event
from tracker.feeds.rows import VISIBLE_TO_MEMBERS, load_items
from tracker.records.models import Deadline, Event, OccurrenceChange
from tracker.records.recurrence import Change


def add_recurring(db_url: str) -> None:
    start = datetime(2027, 1, 13, 14, 0, tzinfo=UTC)
    informal = timed_event("informal", "Europe/Vienna", datetime(2027, 1, 13, 15, 0), 90,
                           ["informal", "csw"], rrule="FREQ=MONTHLY;BYDAY=2WE;COUNT=6",
                           rdates=["2027-03-31T13:00:00+00:00"])
    fee = deadline("informal-fee", "Europe/Vienna", datetime(2027, 1, 6, 12, 0), event=informal,
                   kind="payment", series=["csw", "ccpcj"])
    with session_scope(db_url) as s:
        add_all(s, [informal, fee])
        add_all(s, [
            OccurrenceChange(event_id="informal", original_utc=start + timedelta(days=28),
                             cancelled=True, modified_at=CREATED),
            OccurrenceChange(event_id="informal", original_utc=datetime(2027, 3, 10, 14, 0, tzinfo=UTC),
                             cancelled=False, start_utc=datetime(2027, 3, 10, 15, 0, tzinfo=UTC),
                             end_utc=datetime(2027, 3, 10, 16, 30, tzinfo=UTC), modified_at=CREATED),
        ])


def from_orm_objects(db_url: str) -> dict[str, FeedItem]:
    """The items as publishing built them before: every record loaded as an ORM object."""
    with session_scope(db_url) as s:
        events = s.scalars(select(Event).where(Event.visibility.in_(VISIBLE_TO_MEMBERS))
                           .options(selectinload(Event.changes)))
        items = [item_from_event(e, [Change(c.original_utc, c.cancelled, c.start_utc, c.end_utc)
                                     for c in e.changes]) for e in events]
        deadlines = s.scalars(select(Deadline).where(Deadline.visibility.in_(VISIBLE_TO_MEMBERS))
                              .options(selectinload(Deadline.event)))
        items += [item_from_deadline(d) for d in deadlines]
        return {i.uid: i for i in items}


def test_items_from_columns_equal_items_from_orm_objects(db_url: str) -> None:
    fill(db_url)
    add_recurring(db_url)
    expected = from_orm_objects(db_url)
    with session_scope(db_url) as s:
        got = {i.uid: i for i in load_items(s, VISIBLE_TO_MEMBERS)}
    assert set(got) == set(expected)
    assert any(i.overrides and i.exdates and i.rdates for i in got.values())
    assert got["informal-fee.deadline@tracker.example.org"].series == ("csw", "ccpcj", "informal")
    for uid, item in expected.items():
        assert got[uid] == item, uid
        assert got[uid].fingerprint == item.fingerprint, uid


def test_publishing_loads_no_orm_objects(db_url: str) -> None:
    """Loading 10,000 ORM objects was most of a publish where one item changed."""
    fill(db_url)
    add_recurring(db_url)
    loaded: list[object] = []

    def count(target: object, context: object) -> None:
        loaded.append(target)

    for model in (Event, Deadline, OccurrenceChange):
        event.listen(model, "load", count)
    try:
        with session_scope(db_url) as s:
            items = load_items(s, VISIBLE_TO_MEMBERS)
    finally:
        for model in (Event, Deadline, OccurrenceChange):
            event.remove(model, "load", count)
    assert len(items) > 20
    assert loaded == []
