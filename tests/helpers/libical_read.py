"""Read an iCalendar file with libical (Evolution's parser, and many apps built on it).

Usage: /usr/bin/python3 tests/helpers/libical_read.py FILE.ics
Prints, as JSON, every VEVENT's UID, status, sequence and its start and end as UTC instants
(timed) or dates (all-day): the same shape as icaljs_read.mjs.

Runs under the SYSTEM Python, which has the GObject bindings (Debian: gir1.2-ical-3.0,
python3-gi); the project's venv does not. A TZID is resolved through the VTIMEZONE inside the
file, as Evolution does for a subscribed calendar; a TZID without one makes the script fail
instead of reading floating time. Nothing from the project is imported here.
"""

import json
import sys

import gi

gi.require_version("ICalGLib", "3.0")
from gi.repository import ICalGLib  # noqa: E402

UTC = ICalGLib.Timezone.get_utc_timezone()


def when(cal, prop, value):
    """One DTSTART/DTEND value as {"date": ...} or {"utc": ..., "tzid": ...}."""
    if prop is None or value is None or value.is_null_time():
        return None
    if value.is_date():
        return {"date": f"{value.get_year():04d}-{value.get_month():02d}-{value.get_day():02d}"}
    param = prop.get_first_parameter(ICalGLib.ParameterKind.TZID_PARAMETER)
    tzid = param.get_tzid() if param is not None else None
    if tzid:
        zone = cal.get_timezone(tzid)
        if zone is None:
            raise SystemExit(f"TZID {tzid} has no VTIMEZONE in the file")
        value = value.clone()
        value.set_timezone(zone)
    elif not value.is_utc():
        raise SystemExit(f"floating time {value.as_ical_string()} in a feed")
    utc = value.convert_to_zone(UTC)
    text = (f"{utc.get_year():04d}-{utc.get_month():02d}-{utc.get_day():02d}T"
            f"{utc.get_hour():02d}:{utc.get_minute():02d}:{utc.get_second():02d}Z")
    return {"utc": text, "tzid": tzid}


def main(path):
    with open(path, encoding="utf-8") as fh:
        cal = ICalGLib.Component.new_from_string(fh.read())
    if cal is None:
        raise SystemExit(f"libical could not parse {path}")
    kinds, props = ICalGLib.ComponentKind, ICalGLib.PropertyKind
    out = []
    ev = cal.get_first_component(kinds.VEVENT_COMPONENT)
    while ev is not None:
        start = ev.get_first_property(props.DTSTART_PROPERTY)
        end = ev.get_first_property(props.DTEND_PROPERTY)
        status = ev.get_first_property(props.STATUS_PROPERTY)
        sequence = ev.get_first_property(props.SEQUENCE_PROPERTY)
        out.append({
            "uid": ev.get_uid(),
            "summary": ev.get_summary(),
            "status": status.get_value_as_string() if status is not None else None,
            "sequence": sequence.get_sequence() if sequence is not None else 0,
            "start": when(cal, start, start.get_dtstart() if start is not None else None),
            "end": when(cal, end, end.get_dtend() if end is not None else None),
        })
        ev = cal.get_next_component(kinds.VEVENT_COMPONENT)
    sys.stdout.write(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
