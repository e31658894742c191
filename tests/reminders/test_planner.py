"""The pure planner: table-driven across DST changes and zones without DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tracker.reminders.planner import (
    DeadlineView,
    MemberView,
    ReminderSettings,
    effective_offsets,
    moment_for,
    plan,
    plan_member,
)
from tracker.timeparse import format_offsets, parse_offsets

VIENNA = ZoneInfo("Europe/Vienna")
NOW = datetime(2024, 9, 1, 8, 0, tzinfo=UTC)


def vienna(y: int, mo: int, d: int, h: int = 12, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=VIENNA).astimezone(UTC)


def z(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


# (deadline due, member zone, offset, expected UTC moment, what it shows)
CASES = [
    # Noon Vienna, Mon 14 Oct 2024 (CEST, 10:00Z): "1d" at 09:00 local the day before.
    (vienna(2024, 10, 14), "America/Halifax", "1d", z(2024, 10, 13, 12), "halifax-adt"),
    (vienna(2024, 10, 14), "America/New_York", "1d", z(2024, 10, 13, 13), "newyork-edt"),
    (vienna(2024, 10, 14), "Asia/Karachi", "1d", z(2024, 10, 13, 4), "karachi"),
    (vienna(2024, 10, 14), "Africa/Lagos", "1d", z(2024, 10, 13, 8), "lagos"),
    (vienna(2024, 10, 14), "Asia/Tokyo", "1d", z(2024, 10, 13, 0), "tokyo"),
    (vienna(2024, 10, 14), "Europe/Vienna", "1d", z(2024, 10, 13, 7), "vienna-cest"),
    (vienna(2024, 10, 14), "Europe/Vienna", "14d", z(2024, 9, 30, 7), "vienna-14d"),
    (vienna(2024, 10, 14), "America/Halifax", "3d", z(2024, 10, 11, 12), "halifax-3d"),
    (vienna(2024, 10, 14), "Asia/Tokyo", "1w", z(2024, 10, 7, 0), "tokyo-week"),
    (vienna(2024, 10, 14), "America/New_York", "2h", z(2024, 10, 14, 8), "hours-exact"),
    (vienna(2024, 10, 14), "Asia/Karachi", "30m", z(2024, 10, 14, 9, 30), "minutes-exact"),
    # Noon Vienna on Mon 31 Mar 2025, the day after Europe sprang forward (10:00Z).
    (vienna(2025, 3, 31), "Europe/Vienna", "1d", z(2025, 3, 30, 7), "vienna-on-change-day"),
    (vienna(2025, 3, 31), "Europe/Vienna", "3d", z(2025, 3, 28, 8), "vienna-before-change"),
    (vienna(2025, 3, 31), "America/New_York", "1d", z(2025, 3, 30, 13), "newyork-spring"),
    (vienna(2025, 3, 31), "America/Halifax", "1d", z(2025, 3, 30, 12), "halifax-spring"),
    (vienna(2025, 3, 31), "Asia/Karachi", "1d", z(2025, 3, 30, 4), "karachi-spring"),
    (vienna(2025, 3, 31), "Europe/Vienna", "24h", z(2025, 3, 30, 10), "24h-is-not-1d"),
    # Noon Vienna on Sun 27 Oct 2024, fall-back day: noon is already CET (11:00Z).
    (vienna(2024, 10, 27), "Europe/Vienna", "1d", z(2024, 10, 26, 7), "vienna-fallback"),
    (vienna(2024, 10, 27), "America/New_York", "1d", z(2024, 10, 26, 13), "newyork-fallback"),
    (vienna(2024, 10, 27), "Asia/Tokyo", "1d", z(2024, 10, 26, 0), "tokyo-fallback"),
    (vienna(2024, 10, 27), "Africa/Lagos", "2h", z(2024, 10, 27, 9), "lagos-2h-fallback"),
    # Noon Vienna Mon 4 Nov 2024 (11:00Z): North America fell back on Sun 3 Nov.
    (vienna(2024, 11, 4), "America/New_York", "1d", z(2024, 11, 3, 14), "newyork-est-1d"),
    (vienna(2024, 11, 4), "America/New_York", "3d", z(2024, 11, 1, 13), "newyork-edt-3d"),
    (vienna(2024, 11, 4), "America/Halifax", "1d", z(2024, 11, 3, 13), "halifax-ast-1d"),
    (vienna(2024, 11, 4), "America/Halifax", "3d", z(2024, 11, 1, 12), "halifax-adt-3d"),
    # Noon Vienna Mon 10 Mar 2025 (CET, 11:00Z): North America sprang forward on Sun 9 Mar.
    (vienna(2025, 3, 10), "America/New_York", "1d", z(2025, 3, 9, 13), "newyork-edt-1d"),
    (vienna(2025, 3, 10), "America/New_York", "3d", z(2025, 3, 7, 14), "newyork-est-3d"),
    (vienna(2025, 3, 10), "America/Halifax", "1d", z(2025, 3, 9, 12), "halifax-adt-1d"),
    (vienna(2025, 3, 10), "America/Halifax", "3d", z(2025, 3, 7, 13), "halifax-ast-3d"),
    # 00:30 Vienna on 14 Oct is still 13 Oct in New York: the member's date decides.
    (vienna(2024, 10, 14, 0, 30), "America/New_York", "1d", z(2024, 10, 12, 13), "ny-date"),
    (vienna(2024, 10, 14, 0, 30), "Europe/Vienna", "1d", z(2024, 10, 13, 7), "vienna-date"),
    (vienna(2024, 10, 14, 0, 30), "Asia/Tokyo", "1d", z(2024, 10, 13, 0), "tokyo-date"),
]


@pytest.mark.parametrize(
    ("due", "tz", "offset", "expected"), [c[:4] for c in CASES], ids=[c[4] for c in CASES]
)
def test_moment_for(due: datetime, tz: str, offset: str, expected: datetime) -> None:
    (off,) = parse_offsets(offset)
    got = moment_for(off, due, tz, 9)
    assert got == expected, f"{got.astimezone(ZoneInfo(tz))} local"
    if off.is_days:
        local = got.astimezone(ZoneInfo(tz))
        assert (local.hour, local.minute) == (9, 0)


def test_local_hour_inside_spring_gap_moves_past_the_gap() -> None:
    (off,) = parse_offsets("1d")
    got = moment_for(off, vienna(2025, 3, 31), "Europe/Vienna", 2)  # 02:00 does not exist
    assert got.astimezone(VIENNA).hour == 3
    assert got == z(2025, 3, 30, 1)


# (member remind, deadline remind, kind, expected)
PRECEDENCE = [
    ("2h", "5d", "speakers-list", "2h", "member-wins"),
    (None, "5d,1d", "speakers-list", "5d,1d", "deadline-over-kind"),
    (None, None, "speakers-list", "7d,1d,2h", "kind-over-default"),
    (None, None, "registration", "14d,3d,1d", "default"),
    ("", " ", "ground-pass", "3d,1d", "blank-is-unset"),
]


@pytest.mark.parametrize(("member", "deadline", "kind", "expected"),
                         [p[:4] for p in PRECEDENCE], ids=[p[4] for p in PRECEDENCE])
def test_effective_offsets(member: str | None, deadline: str | None, kind: str, expected: str) -> None:
    s = ReminderSettings(kinds={"speakers-list": ("7d", "1d", "2h"), "ground-pass": ("3d", "1d")})
    assert format_offsets(effective_offsets(member, deadline, kind, s)) == expected


def _deadline(**kw: object) -> DeadlineView:
    base: dict[str, object] = {"id": "cop12-reg", "kind": "registration", "series": ("untoc-cop",),
                               "due_utc": vienna(2024, 10, 14), "remind": None}
    base.update(kw)
    return DeadlineView(**base)  # type: ignore[arg-type]


def test_plan_followers_only() -> None:
    members = [
        MemberView(1, "America/Halifax"),
        MemberView(2, "Asia/Tokyo", series=("ccpcj",)),  # other series
        MemberView(3, "Africa/Lagos", active=False),
        MemberView(4, "Asia/Karachi", kinds=("payment",)),  # other kind
        MemberView(5, "America/New_York", series=("untoc-cop",), remind="2h"),
    ]
    got = plan(_deadline(), members, ReminderSettings(), NOW)
    assert got == {
        (1, "14d"): z(2024, 9, 30, 12),
        (1, "3d"): z(2024, 10, 11, 12),
        (1, "1d"): z(2024, 10, 13, 12),
        (5, "2h"): z(2024, 10, 14, 8),
    }


@pytest.mark.parametrize(
    "deadline",
    [_deadline(status="cancelled"), _deadline(due_utc=NOW - timedelta(minutes=1))],
    ids=["cancelled", "past"],
)
def test_plan_nothing_for_cancelled_or_past(deadline: DeadlineView) -> None:
    assert plan(deadline, [MemberView(1, "Europe/Vienna")], ReminderSettings(), NOW) == {}


def test_plan_keeps_moments_already_past_while_deadline_ahead() -> None:
    now = z(2024, 10, 12, 0)  # after the 14d and 3d moments, before the deadline
    got = plan(_deadline(), [MemberView(1, "Europe/Vienna")], ReminderSettings(), now)
    assert sorted(got) == [(1, "14d"), (1, "1d"), (1, "3d")]


ZONES = ["America/Halifax", "Asia/Karachi", "Africa/Lagos", "America/New_York", "Asia/Tokyo",
         "Europe/Vienna", "Pacific/Kiritimati", "Pacific/Pago_Pago", "America/Mexico_City"]


OFFSET_TEXTS = ["2w", "1w", "14d", "5d", "3d", "1d", "36h", "24h", "2h", "90m", "30m", "1m"]


def _wall_clock_exists(day: date, hour: int, zone: ZoneInfo) -> bool:
    """Whether `hour`:00 on `day` is a wall-clock time in `zone` (not inside a DST gap)."""
    naive = datetime.combine(day, time(hour))
    back = naive.replace(tzinfo=zone).astimezone(UTC).astimezone(zone)
    return back.replace(tzinfo=None) == naive


@settings(max_examples=400, deadline=None)
@given(
    due=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31),
                     timezones=st.just(UTC)),
    tz=st.sampled_from(ZONES),
    offsets=st.lists(st.sampled_from(OFFSET_TEXTS), min_size=1, max_size=6),
    hour=st.integers(0, 23),
)
# Inside a DST gap: 02:00 does not exist in Vienna on Sun 30 Mar 2025 or New York on 9 Mar 2025.
@example(due=vienna(2025, 3, 31), tz="Europe/Vienna", offsets=["1d", "3d", "2h"], hour=2)
@example(due=vienna(2025, 3, 10), tz="America/New_York", offsets=["1d", "30m"], hour=2)
# 02:00 happens twice in Vienna on Sun 27 Oct 2024; the hour still reads 02 either way.
@example(due=vienna(2024, 10, 28), tz="Europe/Vienna", offsets=["1d", "24h"], hour=2)
def test_every_offset_gives_its_moment_before_the_deadline(
    due: datetime, tz: str, offsets: list[str], hour: int
) -> None:
    parsed = parse_offsets(",".join(offsets))
    moments = plan_member(due, parsed, tz, hour)
    zone = ZoneInfo(tz)
    due_day = due.astimezone(zone).date()

    # What each offset must give, worked out here from the rules (not by the planner).
    expected_days: dict[str, date] = {}
    expected_exact: dict[str, datetime] = {}
    for off in parsed:
        if off.is_days:
            assert off.days >= 1
            expected_days[str(off)] = due_day - timedelta(days=off.days)
        else:
            expected_exact[str(off)] = due - off.delta
    # Every expected moment lies before the due instant: a day offset's local day is an earlier
    # local date than the due's, an hour/minute offset is a positive duration earlier. So an
    # empty or partial plan is wrong, and so is a repeated offset.
    assert all(day < due_day for day in expected_days.values())
    assert all(at < due for at in expected_exact.values())
    assert len(moments) == len(expected_days) + len(expected_exact) == len(parsed)
    got = {m.offset: m.at for m in moments}
    assert len(got) == len(moments), "an offset planned twice"
    assert set(got) == set(expected_days) | set(expected_exact)

    assert all(m.at < due for m in moments)
    assert [m.at for m in moments] == sorted(m.at for m in moments)
    for name, at in got.items():
        assert at.utcoffset() == timedelta(0), f"{name}: {at!r} is not in UTC"
    for name, at in expected_exact.items():
        assert got[name] == at, f"{name}: {got[name]} is not due - {name} = {at}"
    for name, day in expected_days.items():
        local = got[name].astimezone(zone)
        if _wall_clock_exists(day, hour, zone):
            assert (local.date(), local.hour, local.minute, local.second,
                    local.microsecond) == (day, hour, 0, 0, 0), f"{name}: {local}"
        else:  # the clocks skip `hour`: the wall time moves forward by the length of the gap
            before = (got[name] - timedelta(hours=6)).astimezone(zone).utcoffset()
            gap = local.utcoffset() - before  # type: ignore[operator]
            assert gap > timedelta(0), f"{name}: {local} is not just after a gap"
            assert local.replace(tzinfo=None) - gap == datetime.combine(day, time(hour)), (
                f"{name}: {local} is not {hour}:00 moved through the gap")
