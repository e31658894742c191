"""Proposals -> the record services' inputs; find proposals already recorded; record accepted ones.

Accepted proposals go through `add_event` / `add_deadline` with WHEN text, exactly as
`tracker event add` / `tracker deadline add` would, so the same checks refuse the same things.
A proposal is "already recorded" when an item of the same kind falls at the same instant and
its title is alike (one title's words contain the other's, or they read much the same), or,
for deadlines, when an item of the same kind is due at that same instant whatever its title:
two registrations closing the same minute are one registration retyped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from difflib import SequenceMatcher
from typing import Any

from sqlalchemy.orm import Session

from tracker.errors import TrackerError
from tracker.extract.propose import Moment, Proposal, instant
from tracker.records.deadlines import DeadlineInput, add_deadline, list_deadlines
from tracker.records.events import EventInput, add_event, list_events
from tracker.records.models import Deadline, Event
from tracker.timeparse import iso_local, iso_utc


@dataclass
class Edits:
    """What the secretary changed while reviewing a proposal (None: keep the proposal's)."""

    title: str | None = None
    kind: str | None = None
    main: str | None = None  # due, or start
    other: str | None = None  # opens, or end
    tz: str | None = None
    event: str | None = None


def event_input(proposal: Proposal, edits: Edits | None = None) -> EventInput:
    e = edits or Edits()
    assert proposal.start is not None
    end = e.other if e.other is not None else (proposal.end.when() if proposal.end else None)
    return EventInput(title=e.title or proposal.title, start=e.main or proposal.start.when(),
                      end=end or None, tz=e.tz or proposal.tz)


def deadline_input(proposal: Proposal, edits: Edits | None = None) -> DeadlineInput:
    e = edits or Edits()
    assert proposal.due is not None
    opens = e.other if e.other is not None else (proposal.opens.when() if proposal.opens else None)
    return DeadlineInput(title=e.title or proposal.title, due=e.main or proposal.due.when(),
                         opens=opens or None, tz=e.tz or proposal.tz,
                         kind=e.kind or proposal.kind, event=e.event or None,
                         notes=f"From the minutes, line {proposal.line}: {proposal.sentence}")


def record(
    session: Session, proposal: Proposal, edits: Edits | None, *, default_tz: str, host: str,
    now: datetime,
) -> Event | Deadline:
    """Record one proposal through the same service `event add` / `deadline add` call."""
    kind = (edits.kind if edits and edits.kind else proposal.kind).strip().lower()
    if kind == "event":
        if not proposal.is_event:  # reviewed into an event: its due time becomes the start
            proposal = Proposal("event", proposal.title, proposal.tz, proposal.line,
                                proposal.sentence, start=proposal.due)
        return add_event(session, event_input(proposal, edits), event_id=None,
                         default_tz=default_tz, host=host, now=now)
    if proposal.is_event:  # reviewed into a deadline: its start becomes the due time
        proposal = Proposal(kind, proposal.title, proposal.tz, proposal.line,
                            proposal.sentence, due=proposal.start)
    return add_deadline(session, deadline_input(proposal, edits), deadline_id=None,
                        default_tz=default_tz, host=host, now=now)


def mark_recorded(session: Session, proposals: list[Proposal], *, now: datetime) -> None:
    """Set `recorded` on each proposal equal to an item already in the database."""
    if not proposals:
        return
    events = list_events(session, now=now, include_cancelled=False)
    deadlines = list_deadlines(session, now=now, include_cancelled=False)
    for proposal in proposals:
        proposal.recorded = recorded_match(proposal, events, deadlines)


def recorded_match(
    proposal: Proposal, events: list[Event], deadlines: list[Deadline]
) -> str | None:
    """The id of a recorded item equal to `proposal`, or None."""
    try:
        at = _main_instant(proposal)
    except TrackerError:
        return None
    if proposal.is_event:
        for event in events:
            if event.start_utc == at and alike(event.title, proposal.title):
                return event.id
        return None
    for deadline in deadlines:
        if deadline.kind == proposal.kind and deadline.due_utc == at:
            return deadline.id
        if deadline.due_utc == at and alike(deadline.title, proposal.title):
            return deadline.id
    return None


def _main_instant(proposal: Proposal) -> datetime:
    """Where the record services would put the proposal's start or due time."""
    return instant(proposal.main, proposal.tz, end_of_day=not proposal.is_event)


def alike(a: str, b: str) -> bool:
    """Titles that name the same thing: equal words, one inside the other, or 80% the same."""
    wa, wb = _words(a), _words(b)
    if not wa or not wb:
        return False
    if wa == wb or wa <= wb or wb <= wa:
        return True
    return SequenceMatcher(None, " ".join(sorted(wa)), " ".join(sorted(wb))).ratio() >= 0.8


def _words(title: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", title.lower()) if w not in _FILLER}


_FILLER = {"the", "of", "on", "for", "and", "a", "an", "in", "to", "collection"}


def proposal_dict(proposal: Proposal) -> dict[str, Any]:
    """A JSON-ready proposal: local ISO times with their zone's offset, UTC times, provenance."""
    data: dict[str, Any] = {"kind": proposal.kind, "title": proposal.title, "tz": proposal.tz}
    names = ("start", "end") if proposal.is_event else ("opens", "due")
    for name in names:
        moment: Moment | None = getattr(proposal, name)
        data.update(_moment_fields(name, moment, proposal.tz,
                                   end_of_day=name == "due" or (name == "end")))
    if proposal.is_event:
        data["all_day"] = proposal.start is not None and proposal.start.clock is None
    data.update({"line": proposal.line, "sentence": proposal.sentence,
                 "notes": list(proposal.notes), "recorded": proposal.recorded})
    return data


def _moment_fields(
    name: str, moment: Moment | None, tz: str, *, end_of_day: bool
) -> dict[str, Any]:
    if moment is None:
        return {name: None, f"{name}_utc": None}
    if moment.clock is None:
        day = moment.day + (timedelta(days=1) if name == "end" else timedelta(0))
        at = instant(Moment(day), tz, end_of_day=end_of_day and name == "due")
        return {name: moment.day.isoformat(), f"{name}_utc": iso_utc(at)}
    try:
        at = instant(moment, tz)
    except TrackerError:
        return {name: moment.when(), f"{name}_utc": None}
    return {name: iso_local(at, tz), f"{name}_utc": iso_utc(at)}
