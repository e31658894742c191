"""Read a feed with four independent parsers and check they agree with each other and the DB.

- icalendar (the library we write with),
- the strict `ical` package (pydantic models; refuses what RFC 5545 does not allow),
- Mozilla's ical.js 2.2 under node (Thunderbird's parser), via tests/icaljs_read.mjs; it
  reads our VTIMEZONEs (the Python parsers resolve IANA TZIDs with zoneinfo),
- libical (Evolution's parser) through its GObject bindings, via tests/helpers/libical_read.py
  run by the system Python; it too reads our VTIMEZONEs. Where the Debian packages are
  missing, `read_all` checks the other three and tests/feeds/test_libical.py reports the skip
  with the reason (under CI, where .ci/run installs them, a missing libical fails).

Each reader returns {uid: Instants}, where start/end are aware UTC datetimes or dates.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import icalendar
import pytest
from ical.calendar_stream import IcsCalendarStream

ROOT = Path(__file__).resolve().parents[2]
ICALJS_SCRIPT = Path(__file__).with_name("icaljs_read.mjs")
LIBICAL_SCRIPT = Path(__file__).with_name("libical_read.py")
SYSTEM_PYTHON = "/usr/bin/python3"
LIBICAL_PACKAGES = "Debian packages gir1.2-ical-3.0 and python3-gi (installed by .ci/run)"


@dataclass(frozen=True)
class Instants:
    start: datetime | date
    end: datetime | date | None
    status: str | None = None
    sequence: int | None = None
    summary: str | None = None


def _norm(value: datetime | date | None) -> datetime | date | None:
    if isinstance(value, datetime):
        assert value.tzinfo is not None, f"floating time {value} in a feed"
        return value.astimezone(UTC)
    return value


def read_icalendar(data: bytes) -> dict[str, Instants]:
    cal = icalendar.Calendar.from_ical(data)
    out: dict[str, Instants] = {}
    for ev in cal.walk("VEVENT"):
        end = ev.get("DTEND")
        out[str(ev["UID"])] = Instants(
            _norm(ev["DTSTART"].dt),  # type: ignore[arg-type]
            _norm(end.dt if end is not None else None),
            str(ev.get("STATUS")) if ev.get("STATUS") else None,
            int(ev.get("SEQUENCE", 0)),
            str(ev["SUMMARY"]) if "SUMMARY" in ev else None,
        )
    return out


def read_ical(data: bytes) -> dict[str, Instants]:
    cal = IcsCalendarStream.calendar_from_ics(data.decode("utf-8"))
    out: dict[str, Instants] = {}
    for ev in cal.events:
        assert ev.uid is not None
        status = ev.status.value if ev.status is not None else None
        out[ev.uid] = Instants(_norm(ev.dtstart), _norm(ev.dtend), status, ev.sequence,  # type: ignore[arg-type]
                               ev.summary)
    return out


def node_path() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed, so ical.js (Thunderbird's parser) cannot run")
    if not (ROOT / "node_modules" / "ical.js").is_dir():
        pytest.fail("node_modules/ical.js missing: run `make test` (npm install) first")
    return node


def read_icaljs(path: Path) -> dict[str, Instants]:
    return _read_with([node_path(), str(ICALJS_SCRIPT), str(path)])


def _read_with(command: list[str]) -> dict[str, Instants]:
    """Run a reader script (ical.js under node, libical under the system Python) and collect
    the instants it prints as JSON; both scripts print the same shape."""
    proc = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    out: dict[str, Instants] = {}
    for ev in json.loads(proc.stdout):
        out[ev["uid"]] = Instants(
            _js(ev["start"]), _js(ev["end"]), ev["status"], ev["sequence"], ev["summary"]
        )  # type: ignore[arg-type]
    return out


@functools.cache
def libical_missing() -> str | None:
    """None when the system Python can load libical's bindings, else why not."""
    if not Path(SYSTEM_PYTHON).exists():
        return f"{SYSTEM_PYTHON} not found, so libical cannot be read ({LIBICAL_PACKAGES})"
    probe = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import gi; gi.require_version('ICalGLib', '3.0'); "
         "from gi.repository import ICalGLib"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["?"])[-1]
        return f"libical's GObject bindings are not installed ({last}); need {LIBICAL_PACKAGES}"
    return None


def libical_or_skip() -> None:
    """Skip (fail under CI, where .ci/run installs the packages) when libical is missing."""
    reason = libical_missing()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def read_libical(path: Path) -> dict[str, Instants]:
    """libical's reading of the file (Evolution); the caller checks `libical_missing` first."""
    return _read_with([SYSTEM_PYTHON, str(LIBICAL_SCRIPT), str(path)])


def _js(value: dict | None) -> datetime | date | None:
    if value is None:
        return None
    if "date" in value:
        return date.fromisoformat(value["date"])
    return datetime.fromisoformat(value["utc"].replace("Z", "+00:00"))


def read_all(path: Path) -> dict[str, Instants]:
    """Parse with every reader (libical where installed), assert they agree, return one reading."""
    data = path.read_bytes()
    a, b, c = read_icalendar(data), read_ical(data), read_icaljs(path)
    others = {"ical": b, "ical.js": c}
    if libical_missing() is None:
        others["libical"] = read_libical(path)
    elif os.environ.get("CI"):  # .ci/run installs it: missing there is a broken set-up
        pytest.fail(str(libical_missing()))
    for name, other in others.items():
        assert set(a) == set(other), (name, set(a) ^ set(other))
        for uid in a:
            assert (a[uid].start, a[uid].end) == (other[uid].start, other[uid].end), (
                name, uid, a[uid], other[uid])
            assert a[uid].status == other[uid].status, (name, uid)
            assert a[uid].sequence == (other[uid].sequence or 0), (name, uid)
            assert a[uid].summary == other[uid].summary, (name, uid)
    return a


# --- Recurring events: every parser expands RRULE/RDATE/EXDATE/RECURRENCE-ID itself ----------

ICALJS_OCCURRENCES = Path(__file__).with_name("icaljs_occurrences.mjs")


@dataclass(frozen=True, order=True)
class Occ:
    """One occurrence as a reader expands it: UID, start, end (UTC instants or dates)."""

    uid: str
    start: datetime | date
    end: datetime | date


def _sort_key(o: Occ) -> tuple[str, str]:
    return (o.uid, o.start.isoformat())


def _overlaps(o: Occ, lo: datetime, hi: datetime) -> bool:
    if isinstance(o.start, datetime) and isinstance(o.end, datetime):
        return o.start < hi and o.end > lo
    return True


def occurrences_icalendar(data: bytes, lo: datetime, hi: datetime) -> list[Occ]:
    """icalendar + recurring-ical-events (the expansion library built on it)."""
    import recurring_ical_events

    cal = icalendar.Calendar.from_ical(data)
    found = [Occ(str(ev["UID"]), _norm(ev["DTSTART"].dt), _norm(ev["DTEND"].dt))  # type: ignore[arg-type]
             for ev in recurring_ical_events.of(cal).between(lo, hi)
             if str(ev.get("STATUS", "")) != "CANCELLED"]
    return sorted((o for o in found if _overlaps(o, lo, hi)), key=_sort_key)


def occurrences_ical(data: bytes, lo: datetime, hi: datetime) -> list[Occ]:
    """The strict `ical` package's timeline (it relates RECURRENCE-ID overrides itself)."""
    cal = IcsCalendarStream.calendar_from_ics(data.decode("utf-8"))
    found = []
    for ev in cal.timeline_tz(UTC).overlapping(lo, hi):
        if ev.status is not None and ev.status.value == "CANCELLED":
            continue
        assert ev.uid is not None
        found.append(Occ(ev.uid, _norm(ev.dtstart), _norm(ev.dtend)))  # type: ignore[arg-type]
    return sorted((o for o in found if _overlaps(o, lo, hi)), key=_sort_key)


def occurrences_icaljs(path: Path, lo: datetime, hi: datetime) -> list[Occ]:
    proc = subprocess.run(
        [node_path(), str(ICALJS_OCCURRENCES), str(path.resolve()), lo.isoformat(), hi.isoformat()],
        capture_output=True, text=True, cwd=ROOT, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    found = [Occ(o["uid"], _js(o["start"]), _js(o["end"]))  # type: ignore[arg-type]
             for o in json.loads(proc.stdout) if o["status"] != "CANCELLED"]
    return sorted((o for o in found if _overlaps(o, lo, hi)), key=_sort_key)


def occurrences_all(path: Path, lo: datetime, hi: datetime) -> list[Occ]:
    """Expand with all three readers, assert they agree occurrence by occurrence."""
    data = path.read_bytes()
    a = occurrences_icalendar(data, lo, hi)
    b = occurrences_ical(data, lo, hi)
    c = occurrences_icaljs(path, lo, hi)
    assert a == b, (set(a) ^ set(b))
    assert a == c, (set(a) ^ set(c))
    return a
