"""SQLAlchemy 2.0 typed models: events, deadlines, members.

Every instant is stored as UTC (``*_utc`` columns, aware on the Python side) next to the IANA
zone it was given in (``tz``); all-day events and date-only deadlines also keep their dates.
Nothing is stored as a fixed offset. ``uid`` is stable for the life of a record; ``sequence``
grows on every material change (what a calendar or a reminder would show differently).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, Text, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.db.base import Base


class Event(Base):
    __tablename__ = "events"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    uid: Mapped[str] = mapped_column(String(255), unique=True)
    title: Mapped[str] = mapped_column(Text)
    series: Mapped[list[str]] = mapped_column(default=list)
    tz: Mapped[str] = mapped_column(String(64))
    all_day: Mapped[bool] = mapped_column(Boolean, default=False)
    # Timed: the instants. All-day: start of the first day and end of the last day in `tz`,
    # kept so that every event sorts and filters on the same columns.
    start_utc: Mapped[datetime] = mapped_column(index=True)
    end_utc: Mapped[datetime]
    start_date: Mapped[date | None] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)  # inclusive last day
    location: Mapped[str] = mapped_column(Text, default="")
    mode: Mapped[str] = mapped_column(String(20), default="in-person")
    url: Mapped[str] = mapped_column(Text, default="")
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="confirmed")
    visibility: Mapped[str] = mapped_column(String(20), default="public")
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    modified_at: Mapped[datetime]
    cancelled_at: Mapped[datetime | None]
    # Recurring: RFC 5545 RRULE text (None: a single event), expanded in `tz` from start_utc
    # (tracker.records.recurrence); extra occurrences (RDATE) as UTC ISO instants.
    rrule: Mapped[str | None] = mapped_column(Text)
    rdates: Mapped[list[str]] = mapped_column(default=list)

    deadlines: Mapped[list[Deadline]] = relationship(back_populates="event")
    changes: Mapped[list[OccurrenceChange]] = relationship(
        back_populates="event", cascade="all, delete-orphan",
        order_by="OccurrenceChange.original_utc",
    )


class OccurrenceChange(Base):
    """One occurrence of a recurring event cancelled or moved, keyed by the instant the rule
    gives it (the RECURRENCE-ID); the event's SEQUENCE grows with every such change."""

    __tablename__ = "occurrence_changes"

    event_id: Mapped[str] = mapped_column(
        ForeignKey("events.id", ondelete="CASCADE"), primary_key=True
    )
    original_utc: Mapped[datetime] = mapped_column(primary_key=True)
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)
    start_utc: Mapped[datetime | None]  # moved: the new times
    end_utc: Mapped[datetime | None]
    modified_at: Mapped[datetime]

    event: Mapped[Event] = relationship(back_populates="changes")


class Deadline(Base):
    __tablename__ = "deadlines"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    uid: Mapped[str] = mapped_column(String(255), unique=True)
    title: Mapped[str] = mapped_column(Text)
    event_id: Mapped[str | None] = mapped_column(
        ForeignKey("events.id", ondelete="SET NULL"), index=True
    )
    kind: Mapped[str] = mapped_column(String(30), default="other")
    series: Mapped[list[str]] = mapped_column(default=list)  # own tags; the event's are added
    tz: Mapped[str] = mapped_column(String(64))
    due_utc: Mapped[datetime] = mapped_column(index=True)
    due_date: Mapped[date | None] = mapped_column(Date)  # set when due "on a date" (23:59 local)
    opens_utc: Mapped[datetime | None]
    opens_date: Mapped[date | None] = mapped_column(Date)
    # The due moment it was first recorded with: "extended" means later than this, and the
    # feed says "extended from ...". None for rows older than the column when already moved.
    first_due_utc: Mapped[datetime | None]
    first_due_date: Mapped[date | None] = mapped_column(Date)
    instructions: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str] = mapped_column(Text, default="")
    email: Mapped[str] = mapped_column(Text, default="")
    location: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="open")
    visibility: Mapped[str] = mapped_column(String(20), default="public")
    remind: Mapped[str | None] = mapped_column(String(200))  # OFFSETS overriding the defaults
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    modified_at: Mapped[datetime]
    cancelled_at: Mapped[datetime | None]

    event: Mapped[Event | None] = relationship(back_populates="deadlines")

    @property
    def all_series(self) -> list[str]:
        tags = list(self.series or [])
        if self.event is not None:
            tags += [t for t in self.event.series if t not in tags]
        return tags


class Member(Base):
    __tablename__ = "members"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(Text, default="")
    organisation: Mapped[str] = mapped_column(Text, default="")
    tz: Mapped[str] = mapped_column(String(64))
    series: Mapped[list[str]] = mapped_column(default=list)  # empty: every series
    kinds: Mapped[list[str]] = mapped_column(default=list)  # empty: every kind
    remind: Mapped[str | None] = mapped_column(String(200))  # OFFSETS; None: the defaults
    active: Mapped[bool] = mapped_column(Boolean, default=True)  # a member at all (feed, mail)
    # Wants reminder e-mail. Unsubscribing clears only this: the private feed keeps working.
    mail: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    feed_token: Mapped[str] = mapped_column(String(64), unique=True)
    unsubscribe_token: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    modified_at: Mapped[datetime]

    @property
    def gets_mail(self) -> bool:
        """Whether reminders and notices go to this member: active and not unsubscribed."""
        return bool(self.active and self.mail)

    def follows(self, series: list[str], kind: str | None = None) -> bool:
        """Whether this member wants items of these series (and this deadline kind)."""
        if self.series and not set(self.series) & set(series):
            return False
        return not (kind is not None and self.kinds and kind not in self.kinds)
