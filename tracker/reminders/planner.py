"""Pure reminder planning: deadlines x members x offsets -> reminder moments.

No session, no clock, no disk: every input (including the reminder settings) is an argument,
which is what makes the DST tables in tests/test_planner.py exact.

Rules:
- Offsets: the member's own override the deadline's, which override the kind's
  (``[reminders.kinds]``), which override ``[reminders] offsets``.
- A day or week offset N lands at ``local_hour`` in the *member's* zone on the day that is N
  days before the deadline's date *as seen in the member's zone*. A noon-Vienna deadline on
  Mon 14 Oct is 07:00 Mon 14 Oct in Halifax, so "1d" reaches Halifax at 09:00 Sun 13 Oct.
- If ``local_hour`` does not exist that day (the clocks skip it), the wall-clock time is
  normalised forward through the gap (02:30 on a spring-forward night becomes 03:30).
- Hour and minute offsets are exact instants before the deadline.
- A moment at or after the deadline itself is dropped: a reminder after the fact is noise.
  (With day offsets of at least one day this cannot happen, since the moment lies on an earlier
  local date; the guard keeps the invariant whatever the inputs.)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from tracker.config import RemindersSection
from tracker.timeparse import Offset, parse_offsets


@dataclass(frozen=True)
class ReminderSettings:
    """The [reminders] values the planner needs, detached from the Config object."""

    offsets: tuple[str, ...] = ("14d", "3d", "1d")
    local_hour: int = 9
    kinds: Mapping[str, tuple[str, ...]] | None = None

    @classmethod
    def from_config(cls, reminders: RemindersSection) -> ReminderSettings:
        return cls(
            offsets=tuple(reminders.offsets),
            local_hour=int(reminders.local_hour),
            kinds={k: tuple(v) for k, v in reminders.kinds.items()},
        )

    def fingerprint(self) -> str:
        """A short text that changes whenever a setting that moves a reminder changes."""
        kinds = sorted((k, ",".join(v)) for k, v in (self.kinds or {}).items())
        return f"{','.join(self.offsets)}|{self.local_hour}|{kinds}"[:200]


@dataclass(frozen=True)
class Moment:
    """One planned reminder: which offset, and the UTC instant it should be sent."""

    offset: str
    at: datetime


@lru_cache(maxsize=1024)
def _offsets(text: str) -> tuple[Offset, ...]:
    return parse_offsets(text)


def effective_offsets(
    member_remind: str | None, deadline_remind: str | None, kind: str, settings: ReminderSettings
) -> tuple[Offset, ...]:
    """The offsets that apply: member, else deadline, else kind, else the defaults."""
    for text in (member_remind, deadline_remind):
        if text and text.strip():
            return _offsets(text.strip())
    kinds = settings.kinds or {}
    if kind in kinds and kinds[kind]:
        return _offsets(",".join(kinds[kind]))
    return _offsets(",".join(settings.offsets))


def moment_for(offset: Offset, due_utc: datetime, member_tz: str, local_hour: int) -> datetime:
    """The UTC instant of one reminder for a member in `member_tz`."""
    if not offset.is_days:
        return (due_utc - offset.delta).astimezone(UTC)
    zone = ZoneInfo(member_tz)
    local_day = due_utc.astimezone(zone).date() - timedelta(days=offset.days)
    wall = datetime.combine(local_day, time(local_hour, 0), tzinfo=zone)
    # A wall time inside a spring-forward gap round-trips through UTC to the time after the gap.
    return wall.astimezone(UTC)


def plan_member(
    due_utc: datetime, offsets: Iterable[Offset], member_tz: str, local_hour: int
) -> list[Moment]:
    """Every reminder moment for one member and one deadline, earliest first, before the due."""
    moments = [Moment(str(o), moment_for(o, due_utc, member_tz, local_hour)) for o in offsets]
    return sorted((m for m in moments if m.at < due_utc), key=lambda m: m.at)


@dataclass(frozen=True)
class DeadlineView:
    """The parts of a deadline that decide its reminders."""

    id: str
    kind: str
    series: tuple[str, ...]
    due_utc: datetime
    remind: str | None
    status: str = "open"


@dataclass(frozen=True)
class MemberView:
    """The parts of a member that decide their reminders."""

    id: int
    tz: str
    series: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    remind: str | None = None
    active: bool = True  # gets mail: Member.active and Member.mail (unsubscribed = False)

    def follows(self, series: Iterable[str], kind: str | None) -> bool:
        """The same rule as models.Member.follows (empty lists mean 'everything')."""
        if self.series and not set(self.series) & set(series):
            return False
        return not (kind is not None and self.kinds and kind not in self.kinds)


def wants(member: MemberView, deadline: DeadlineView, now: datetime) -> bool:
    """Whether this member should get reminders of this deadline at all (as of `now`)."""
    return (
        member.active
        and deadline.status != "cancelled"
        and deadline.due_utc > now
        and member.follows(deadline.series, deadline.kind)
    )


def plan(
    deadline: DeadlineView, members: Iterable[MemberView], settings: ReminderSettings,
    now: datetime,
) -> dict[tuple[int, str], datetime]:
    """(member id, offset) -> UTC moment for every follower of a deadline that is still ahead.

    Moments already in the past are kept: the caller sends them late while the deadline is
    still ahead (and the claim step skips superseded or expired ones).
    """
    return plan_before(deadline, members, settings, now, None)[0]


def plan_before(
    deadline: DeadlineView, members: Iterable[MemberView], settings: ReminderSettings,
    now: datetime, until: datetime | None,
) -> tuple[dict[tuple[int, str], datetime], datetime | None]:
    """`plan`, keeping only moments before `until` (all when None), and the earliest moment
    left out (None when none was)."""
    return plan_groups(deadline, group_members(members), settings, now, until)


Groups = list[tuple[MemberView, list[int]]]  # one member standing for a profile, and its ids


def group_members(members: Iterable[MemberView]) -> Groups:
    """Members who share a zone, offsets, series, kinds and `active` get the same moments for
    any deadline: group them once (a few hundred profiles for 100,000 members)."""
    groups: dict[tuple[str, str | None, tuple[str, ...], tuple[str, ...], bool],
                 tuple[MemberView, list[int]]] = {}
    for m in members:
        key = (m.tz, m.remind, m.series, m.kinds, m.active)
        found = groups.get(key)
        if found is None:
            groups[key] = (m, [m.id])
        else:
            found[1].append(m.id)
    return list(groups.values())


def plan_groups(
    deadline: DeadlineView, groups: Groups, settings: ReminderSettings, now: datetime,
    until: datetime | None,
) -> tuple[dict[tuple[int, str], datetime], datetime | None]:
    """`plan_before` over grouped members: each profile is worked out once, so a deadline
    costs one dict entry per moment kept, not a zone conversion and a set intersection per
    member of the list."""
    out: dict[tuple[int, str], datetime] = {}
    later: datetime | None = None
    for member, ids in groups:
        moments, first_left_out = _profile(deadline, member, settings, now, until)
        if first_left_out is not None and (later is None or first_left_out < later):
            later = first_left_out
        for m in moments:
            out.update(((i, m.offset), m.at) for i in ids)
    return out, later


def _profile(deadline: DeadlineView, member: MemberView, settings: ReminderSettings,
             now: datetime, until: datetime | None) -> tuple[list[Moment], datetime | None]:
    """The moments of one member profile before `until`, and the first one after it."""
    if not wants(member, deadline, now):
        return [], None
    offsets = effective_offsets(member.remind, deadline.remind, deadline.kind, settings)
    moments = plan_member(deadline.due_utc, offsets, member.tz, settings.local_hour)
    if until is None:
        return moments, None
    kept = [m for m in moments if m.at < until]
    left_out = [m.at for m in moments if m.at >= until]
    return kept, min(left_out, default=None)


# A day offset N lands on the local date N days before the due's local date: up to a day
# (and a DST hour) earlier than `due - N days`. Two days cover that in every zone.
SLACK = timedelta(days=2)


def earliest_possible(due_utc: datetime, offsets: Iterable[Offset]) -> datetime:
    """A moment no reminder of a deadline due at `due_utc` can come before, whatever the
    member's zone, for the given offsets."""
    return due_utc - max((o.delta for o in offsets), default=timedelta(0)) - SLACK
