"""Keep the outbox rows in step with deadlines, members and settings (incrementally).

Called at the start of every scheduler round (and by `tracker remind send-due`), so the
secretary's edits need no hooks: a deadline whose (sequence, due, status, event sequence,
settings) differs from its marker in ``reminder_plans`` is planned again; so is a member whose
(modified_at, gets mail, settings) differs from ``member_plans``. "Gets mail" is `active` and
`mail`: a member who unsubscribed from e-mail (mail=False) is planned like an inactive one,
while feeds look at `active` alone.

Rows are materialised only a horizon ahead (``HORIZON``): every moment before a deadline's
``planned_until`` has a row; ``next_plan_at`` says when the deadline must be looked at again
to add the next ones. A member's change touches only deadlines whose moments for that member
could fall before their horizon (plus deadlines where the member already has rows).
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Text, and_, bindparam, func, insert, or_, select, update
from sqlalchemy import cast as cast_
from sqlalchemy.orm import Session, selectinload

from tracker.config import Config
from tracker.db.engine import SYNC_LOCK, transaction_lock
from tracker.errors import ROW_ERRORS
from tracker.records.models import Deadline, Event, Member
from tracker.reminders.planner import (
    SLACK,
    DeadlineView,
    Groups,
    MemberView,
    ReminderSettings,
    earliest_possible,
    effective_offsets,
    group_members,
    plan,
    plan_groups,
)
from tracker.reminders.rows import begin_write, insert_rows, make_message_id, sender_domain
from tracker.reminders.tables import MEMBER_PLANS, OUTBOX, DeadlinePlan, MemberPlan, OutboxRow

log = logging.getLogger(__name__)

HORIZON = timedelta(days=2)  # rows exist for moments up to this far ahead
LIVE = ("pending", "claimed")
INACTIVE = "member inactive"  # also a member who unsubscribed from e-mail (mail=False)
CHUNK = 500  # deadlines loaded, planned and flushed at a time
MARKERS = 5000  # member markers written at a time


@dataclass
class SyncReport:
    """What a sync changed; logged by the scheduler, printed by `remind send-due`."""

    deadlines: int = 0
    members: int = 0
    inserted: int = 0
    moved: int = 0
    skipped: int = 0
    revived: int = 0
    notices: int = 0
    unreadable: list[str] = field(default_factory=list)  # deadline ids that could not be planned
    deferred: bool = False  # another scheduler held the planning lock: look again soon
    # Deadlines looked at whose first possible reminder lies beyond the horizon: marked with
    # the moment to look again, no member planned (not a change: left out of bool()).
    ahead: int = 0

    def __bool__(self) -> bool:
        return any((self.inserted, self.moved, self.skipped, self.revived, self.notices,
                    self.unreadable))


@dataclass
class _Round:
    session: Session
    settings: ReminderSettings
    fingerprint: str
    now: datetime
    quiet: timedelta
    domain: str
    report: SyncReport = field(default_factory=SyncReport)
    planned: set[str] = field(default_factory=set)
    within: dict[datetime, set[str]] = field(default_factory=dict)  # reach -> deadline ids
    # The distinct `remind` texts of upcoming deadlines (+ None), read once per round.
    remind_texts: list[str | None] | None = None
    max_offsets: dict[str | None, timedelta] = field(default_factory=dict)  # by member remind
    # Every member who gets mail, read once per round and only when a deadline needs it.
    _everyone: list[MemberView] | None = None
    _groups: Groups | None = None
    _by_id: dict[int, MemberView] | None = None
    _member_reminds: set[str | None] | None = None

    def everyone(self) -> list[MemberView]:
        if self._everyone is None:
            self._everyone = _active_members(self.session)
        return self._everyone

    def groups(self) -> Groups:
        if self._groups is None:
            self._groups = group_members(self.everyone())
        return self._groups

    def by_id(self) -> dict[int, MemberView]:
        if self._by_id is None:
            self._by_id = {m.id: m for m in self.everyone()}
        return self._by_id

    def member_reminds(self) -> set[str | None]:
        """The distinct `remind` texts of members who get mail (+ None: the defaults)."""
        if self._member_reminds is None:
            m = Member
            self._member_reminds = set(self.session.scalars(
                select(m.remind).where(m.active.is_(True), m.mail.is_(True)).distinct()
            )) | {None}
        return self._member_reminds


def sync(session: Session, config: Config, now: datetime, deadlines: list[str] | None = None,
         members: list[int] | None = None) -> SyncReport:
    """Bring the outbox in step with the data; `deadlines`/`members` force those ids too."""
    begin_write(session)
    if not transaction_lock(session, SYNC_LOCK):  # one planner at a time across machines
        log.info("another scheduler is syncing; skipping sync this round")
        return SyncReport(deferred=True)
    settings = ReminderSettings.from_config(config.reminders)
    rnd = _Round(session, settings, settings.fingerprint(), now,
                 timedelta(minutes=config.reminders.quiet_minutes),
                 sender_domain(config.mail.sender))
    ids = _deadlines_to_plan(rnd, deadlines or [])
    for start in range(0, len(ids), CHUNK):  # a first sync of 50,000 deadlines: never all at once
        loaded = _load_deadlines(rnd, ids[start:start + CHUNK])
        rows = _existing_rows(rnd, [d.id for d, _ in loaded])
        for deadline, marker in loaded:
            try:
                _plan_deadline(rnd, deadline, marker, rows.get(deadline.id, []))
            except ROW_ERRORS as exc:  # planning fails before writing: the others go on
                _unreadable(rnd, deadline.id, exc)
        session.flush()
        _forget(session, loaded)
    markers: list[dict[str, Any]] = []
    for member, modified_at, known in _members_to_plan(rnd, members or []):
        _plan_member(rnd, member, new=not known)
        markers.append({"member_id": member.id, "modified_at": modified_at,
                        "active": member.active, "known": known})
        if len(markers) >= MARKERS:
            _write_member_markers(rnd, markers)
            markers = []
    _write_member_markers(rnd, markers)
    session.flush()
    return rnd.report


def _deadlines_to_plan(rnd: _Round, forced: list[str]) -> list[str]:
    """The ids of deadlines whose marker differs from them (or that have none yet)."""
    d, p = Deadline, DeadlinePlan
    ev_seq = func.coalesce(Event.sequence, -1)
    changed = or_(
        p.sequence != d.sequence, p.due_utc != d.due_utc, p.status != d.status,
        p.settings != rnd.fingerprint, p.event_sequence != ev_seq, p.next_plan_at <= rnd.now,
    )
    new = (p.deadline_id.is_(None)) & (d.due_utc > rnd.now) & (d.status != "cancelled")
    cond = or_(new, p.deadline_id.is_not(None) & changed)
    if forced:
        cond = or_(cond, d.id.in_(forced))
    query = (
        select(d.id).outerjoin(p, p.deadline_id == d.id).outerjoin(Event, Event.id == d.event_id)
        .where(cond).order_by(d.id)
    )
    return list(rnd.session.scalars(query))


def _load_deadlines(rnd: _Round, ids: list[str]) -> list[tuple[Deadline, DeadlinePlan | None]]:
    d, p = Deadline, DeadlinePlan
    query = (select(d, p).outerjoin(p, p.deadline_id == d.id).where(d.id.in_(ids))
             .order_by(d.id).options(selectinload(d.event)))
    return [(row[0], row[1]) for row in rnd.session.execute(query)]


def _forget(session: Session, loaded: list[tuple[Deadline, DeadlinePlan | None]]) -> None:
    """Let a flushed chunk's objects go, so a first sync's memory stays one chunk's worth."""
    for deadline, marker in loaded:
        for obj in (deadline, marker, deadline.event):
            if obj is not None and obj in session:
                session.expunge(obj)


def _tags_column(column: Any) -> Any:
    """A member's JSON list of tags as its text, so `_tags` parses each distinct list once."""
    return cast_(column, Text)


@functools.lru_cache(maxsize=4096)
def _tags(stored: str | None) -> tuple[str, ...]:
    """The tags of a stored JSON list: 100,000 members share a few hundred lists, and parsing
    each member's two lists (by the driver or SQLAlchemy) was a quarter of a first sync's
    time under the profiler (2,000 members on PostgreSQL)."""
    return tuple(json.loads(stored) or ()) if stored else ()


def _active_members(session: Session) -> list[MemberView]:
    m = Member
    rows = session.execute(
        select(m.id, m.tz, _tags_column(m.series), _tags_column(m.kinds), m.remind)
        .where(m.active.is_(True), m.mail.is_(True))
    )
    return [MemberView(r[0], r[1], _tags(r[2]), _tags(r[3]), r[4]) for r in rows]


def _unreadable(rnd: _Round, deadline_id: str, exc: Exception) -> None:
    """Log a deadline whose stored values cannot be planned (e.g. a year-9999 due)."""
    if deadline_id not in rnd.report.unreadable:
        rnd.report.unreadable.append(deadline_id)
        log.warning("deadline %s not planned: its values cannot be used (%s)", deadline_id, exc)


def _view(deadline: Deadline) -> DeadlineView:
    return DeadlineView(deadline.id, deadline.kind, tuple(deadline.all_series),
                        deadline.due_utc, deadline.remind, deadline.status)


def _existing_rows(rnd: _Round, ids: list[str]) -> dict[str, list[Sequence[Any]]]:
    """The reminder rows of a chunk of deadlines, by deadline: one query, not one each."""
    r = OutboxRow
    found: dict[str, list[Sequence[Any]]] = {}
    for row in rnd.session.execute(
        select(r.deadline_id, r.id, r.member_id, r.slot, r.state, r.due_at, r.attempts)
        .where(r.deadline_id.in_(ids), r.kind == "reminder")
    ):
        found.setdefault(row[0], []).append(tuple(row[1:]))
    return found


def _plan_deadline(rnd: _Round, deadline: Deadline, marker: DeadlinePlan | None,
                   existing: list[Sequence[Any]]) -> None:
    view = _view(deadline)
    until = rnd.now + HORIZON
    desired, later = _desired(rnd, view, existing, until)
    reason = _reason_for(view, rnd.now)
    later = _reconcile(rnd, deadline, desired, existing, until,
                       lambda mid: reason or ("member no longer follows it or offsets changed"
                                              if mid in rnd.by_id() else INACTIVE), later)
    if marker is None:
        marker = DeadlinePlan(deadline_id=deadline.id, notice_generation=0)
        rnd.session.add(marker)
    else:
        _maybe_notice(rnd, deadline, marker)
    marker.sequence = deadline.sequence
    marker.event_sequence = deadline.event.sequence if deadline.event is not None else -1
    marker.due_utc = deadline.due_utc
    marker.status = deadline.status
    marker.settings = rnd.fingerprint
    marker.planned_until = until
    marker.next_plan_at = later - HORIZON / 2 if later else None
    marker.updated_at = rnd.now
    rnd.planned.add(deadline.id)
    rnd.report.deadlines += 1


def _desired(rnd: _Round, view: DeadlineView, existing: Sequence[Sequence[Any]],
             until: datetime) -> tuple[dict[tuple[int, str], datetime], datetime | None]:
    """The moments to have rows for (before `until`), those of members who already have rows
    (all of them, so a row can be moved rather than dropped), and the earliest moment left out.

    A deadline whose first possible moment lies beyond the horizon is not planned member by
    member at all (its `next_plan_at` brings it back in time): a first sync of 50,000
    deadlines x 100,000 members plans only the few deadlines inside the horizon.
    """
    if not existing and not _wanted(view, rnd.now):
        return {}, None
    if not existing:
        offsets = [o for text in rnd.member_reminds()
                   for o in effective_offsets(text, view.remind, view.kind, rnd.settings)]
        first = earliest_possible(view.due_utc, offsets)
        if first >= until:
            rnd.report.ahead += 1
            return {}, first
    desired, later = plan_groups(view, rnd.groups(), rnd.settings, rnd.now, until)
    holders = {row[1] for row in existing}
    members = rnd.by_id()
    desired.update(plan(view, [members[i] for i in holders if i in members], rnd.settings,
                        rnd.now))
    return desired, later


def _wanted(view: DeadlineView, now: datetime) -> bool:
    return view.status != "cancelled" and view.due_utc > now


def _reason_for(view: DeadlineView, now: datetime) -> str | None:
    if view.status == "cancelled":
        return "deadline cancelled"
    if view.due_utc <= now:
        return "deadline passed"
    return None


def _reconcile(rnd: _Round, deadline: Deadline, desired: dict[tuple[int, str], datetime],
               existing: Iterable[Sequence[Any]], until: datetime,
               why: Callable[[int], str], later: datetime | None = None) -> datetime | None:
    """Insert, move, skip or revive rows; return the earliest moment not yet materialised
    (`later`: one already known to be left out, e.g. by `plan_before`)."""
    moves, skips, revives = [], [], []
    seen: set[tuple[int, str]] = set()
    for row_id, member_id, slot, state, due_at, attempts in existing:
        key = (member_id, slot)
        seen.add(key)
        want = desired.get(key)
        if state == "pending" and want is None:
            skips.append({"i": row_id, "e": why(member_id)})
        elif state == "pending" and want != due_at:
            moves.append({"i": row_id, "d": want, "n": want if attempts == 0 else due_at})
        elif state == "skipped" and want is not None and want > rnd.now:
            revives.append({"i": row_id, "d": want, "n": want})
    _bulk_update(rnd, moves, due_at=bindparam("d"), next_attempt_at=bindparam("n"))
    _bulk_update(rnd, skips, state="skipped", last_error=bindparam("e"))
    _bulk_update(rnd, revives, state="pending", due_at=bindparam("d"),
                 next_attempt_at=bindparam("n"), last_error=None)
    rnd.report.moved += len(moves)
    rnd.report.skipped += len(skips)
    rnd.report.revived += len(revives)
    new = []
    for (member_id, slot), at in desired.items():
        if (member_id, slot) in seen:
            continue
        if at < until:
            new.append(_row("reminder", member_id, deadline, slot, at, rnd))
        elif later is None or at < later:
            later = at
    insert_rows(rnd.session, new)
    rnd.report.inserted += len(new)
    return later


def _always(reason: str) -> Callable[[int], str]:
    """A `why` for _reconcile giving the same reason for every member (bound now, not late)."""
    return lambda _mid: reason


def _bulk_update(rnd: _Round, params: Sequence[Mapping[str, object]], **values: object) -> None:
    """Executemany by id; only rows still pending/skipped (a claimed row is left alone)."""
    if not params:
        return
    table = OUTBOX
    stmt = (
        update(table)
        .where(table.c.id == bindparam("i"),
               or_(table.c.state == "pending", table.c.state == "skipped"))
        .values(updated_at=rnd.now, **values)
    )
    rnd.session.connection().execute(stmt, params)


def _row(kind: str, member_id: int, deadline: Deadline, slot: str, at: datetime,
         rnd: _Round, was_due: datetime | None = None) -> dict[str, object]:
    return {
        "kind": kind, "member_id": member_id, "deadline_id": deadline.id, "slot": slot,
        "seq": deadline.sequence, "due_at": at, "was_due_at": was_due, "state": "pending",
        "attempts": 0,
        "next_attempt_at": at, "created_at": rnd.now, "updated_at": rnd.now,
        "message_id": make_message_id(kind, member_id, deadline.id, slot, deadline.sequence,
                                      rnd.domain),
    }


def _maybe_notice(rnd: _Round, deadline: Deadline, marker: DeadlinePlan) -> None:
    """Queue (or push back) one notice per follower when a deadline moved or was cancelled.

    Notices of one "generation" share the slot ``n<generation>``. While every row of the
    current generation is still pending (inside the quiet period), a further edit only pushes
    their moment back and updates their kind, so three quick edits send one notice, rendered
    from the final state at send time. Their moment is `quiet_minutes` after the last edit.
    """
    was_cancelled, is_cancelled = marker.status == "cancelled", deadline.status == "cancelled"
    moved = deadline.due_utc != marker.due_utc
    if was_cancelled == is_cancelled and (not moved or is_cancelled):
        return
    kind = "cancelled" if is_cancelled else "moved"
    ahead = marker.due_utc if is_cancelled else deadline.due_utc
    if ahead <= rnd.now:
        return  # nobody needs news about a deadline that has passed anyway
    # The quiet period counts from the edit itself (modified_at), not from the round that
    # noticed it: a round every minute must not add up to a minute to every notice.
    series, at = deadline.all_series, deadline.modified_at + rnd.quiet
    recipients = [m.id for m in rnd.everyone() if m.follows(series, deadline.kind)]
    slot = f"n{marker.notice_generation}"
    states = dict(rnd.session.execute(
        select(OutboxRow.state, func.count()).where(
            OutboxRow.deadline_id == deadline.id, OutboxRow.slot == slot
        ).group_by(OutboxRow.state)
    ).all())
    table = OUTBOX
    was_due: datetime | None = marker.due_utc  # what followers knew before this change
    if marker.notice_generation and states and set(states) == {"pending"}:
        was_due = rnd.session.scalar(
            select(OutboxRow.was_due_at).where(OutboxRow.deadline_id == deadline.id,
                                               OutboxRow.slot == slot).limit(1)
        )
        if kind == "moved" and was_due == deadline.due_utc:  # moved back before it went out
            rnd.session.execute(
                update(table).where(table.c.deadline_id == deadline.id, table.c.slot == slot,
                                    table.c.state == "pending")
                .values(state="skipped", last_error="moved back before the notice went out",
                        updated_at=rnd.now)
            )
            return
        rnd.session.execute(
            update(table).where(table.c.deadline_id == deadline.id, table.c.slot == slot,
                                table.c.state == "pending")
            .values(kind=kind, due_at=at, next_attempt_at=at, updated_at=rnd.now)
        )
    else:
        if states.get("pending"):
            rnd.session.execute(
                update(table).where(table.c.deadline_id == deadline.id, table.c.slot == slot,
                                    table.c.state == "pending")
                .values(state="skipped", last_error="superseded by a later notice",
                        updated_at=rnd.now)
            )
        marker.notice_generation += 1
        slot = f"n{marker.notice_generation}"
    rows = [_row(kind, mid, deadline, slot, at, rnd, was_due) for mid in recipients]
    insert_rows(rnd.session, rows)
    rnd.report.notices += len(rows)


def _members_to_plan(rnd: _Round, forced: list[int]) -> list[tuple[MemberView, datetime, bool]]:
    """(member, modified_at, has a marker already) for each member whose marker differs."""
    m, mp = Member, MemberPlan
    gets_mail = and_(m.active.is_(True), m.mail.is_(True))
    # The marker's `active` is "gets mail" as last planned (active and not unsubscribed).
    flipped = or_(and_(mp.active.is_(True), ~gets_mail), and_(mp.active.is_(False), gets_mail))
    cond = or_(mp.member_id.is_(None), mp.modified_at != m.modified_at, flipped,
               mp.settings != rnd.fingerprint)
    if forced:
        cond = or_(cond, m.id.in_(forced))
    rows = rnd.session.execute(
        select(m.id, m.tz, _tags_column(m.series), _tags_column(m.kinds), m.remind, m.active,
               m.mail, m.modified_at, mp.member_id.is_not(None))
        .outerjoin(mp, mp.member_id == m.id).where(cond).order_by(m.id)
    ).all()
    return [(MemberView(r[0], r[1], _tags(r[2]), _tags(r[3]), r[4], bool(r[5] and r[6])), r[7],
             bool(r[8])) for r in rows]


def _write_member_markers(rnd: _Round, markers: list[dict[str, Any]]) -> None:
    """Record what each member was planned at: one executemany for the new markers, one for
    the changed ones (a first sync of 100,000 members makes no ORM object per member)."""
    table = MEMBER_PLANS
    new = [{"member_id": m["member_id"], "modified_at": m["modified_at"], "active": m["active"],
            "settings": rnd.fingerprint, "updated_at": rnd.now} for m in markers if not m["known"]]
    old = [{"mid": m["member_id"], "mod": m["modified_at"], "act": m["active"]}
           for m in markers if m["known"]]
    conn = rnd.session.connection()
    if new:
        conn.execute(insert(table), new)
    if old:
        conn.execute(
            update(table).where(table.c.member_id == bindparam("mid"))
            .values(modified_at=bindparam("mod"), active=bindparam("act"),
                    settings=rnd.fingerprint, updated_at=rnd.now),
            old,
        )


def _max_offset(rnd: _Round, member: MemberView) -> timedelta:
    """The largest offset this member could have for any upcoming deadline (members with the
    same `remind` share it: worked out once per round)."""
    found = rnd.max_offsets.get(member.remind)
    if found is not None:
        return found
    if member.remind:
        texts: list[str | None] = [None]
    else:
        if rnd.remind_texts is None:
            rnd.remind_texts = list(rnd.session.scalars(
                select(Deadline.remind).where(Deadline.due_utc > rnd.now).distinct()
            )) + [None]
        texts = rnd.remind_texts
    kinds = list((rnd.settings.kinds or {}).keys()) + ["other"]
    found = rnd.max_offsets[member.remind] = max(
        o.delta for t in texts for k in kinds
        for o in effective_offsets(member.remind, t, k, rnd.settings)
    )
    return found


def _plan_member(rnd: _Round, member: MemberView, new: bool) -> None:
    table = OUTBOX
    if not member.active:
        result = rnd.session.execute(
            update(table).where(table.c.member_id == member.id, table.c.state == "pending")
            .values(state="skipped", last_error=INACTIVE, updated_at=rnd.now)
        )
        # An UPDATE's result is a CursorResult; Session.execute is typed as returning Result.
        rnd.report.skipped += cast(CursorResult[Any], result).rowcount or 0
    else:
        _replan_member(rnd, member, new=new)
    rnd.report.members += 1


def _replan_member(rnd: _Round, member: MemberView, new: bool) -> None:
    """Plan one member against the deadlines where their moments could already have rows."""
    reach = rnd.now + HORIZON + SLACK + _max_offset(rnd, member)
    if reach not in rnd.within:  # members with the same offsets share it: one query, not one each
        # Less the deadlines planned with every member this round already (the deadline step
        # is over when members are planned): worked out once, not copied per member.
        rnd.within[reach] = set(rnd.session.scalars(
            select(Deadline.id).where(Deadline.due_utc > rnd.now, Deadline.due_utc < reach)
        )) - rnd.planned
    ids = rnd.within[reach]
    if not new:
        ids = (ids | set(rnd.session.scalars(
            select(OutboxRow.deadline_id).where(
                OutboxRow.member_id == member.id, OutboxRow.kind == "reminder",
                OutboxRow.state.in_(("pending", "skipped")),
            ).distinct()
        ))) - rnd.planned
    if not ids:
        return
    pairs = rnd.session.execute(
        select(Deadline, DeadlinePlan).join(DeadlinePlan, DeadlinePlan.deadline_id == Deadline.id)
        .where(Deadline.id.in_(ids)).options(selectinload(Deadline.event))
    ).all()
    existing: dict[str, list[Sequence[Any]]] = {}
    if not new:
        for row in rnd.session.execute(
            select(OutboxRow.deadline_id, OutboxRow.id, OutboxRow.member_id, OutboxRow.slot,
                   OutboxRow.state, OutboxRow.due_at, OutboxRow.attempts)
            .where(OutboxRow.member_id == member.id, OutboxRow.kind == "reminder",
                   OutboxRow.deadline_id.in_(ids))
        ):
            existing.setdefault(row[0], []).append(tuple(row[1:]))
    for deadline, marker in pairs:
        view = _view(deadline)
        try:
            desired = plan(view, [member], rnd.settings, rnd.now)
        except ROW_ERRORS as exc:
            _unreadable(rnd, deadline.id, exc)
            continue
        reason = _reason_for(view, rnd.now) or "member no longer follows it or offsets changed"
        later = _reconcile(rnd, deadline, desired, existing.get(deadline.id, []),
                           marker.planned_until, _always(reason))
        if later is not None:
            due = later - HORIZON / 2
            if marker.next_plan_at is None or due < marker.next_plan_at:
                marker.next_plan_at = due
