// Read an iCalendar file with Mozilla's ical.js (Thunderbird's parser) and print, as JSON,
// every VEVENT's UID with its start and end as UTC instants (timed) or dates (all-day).
// Usage: node tests/icaljs_read.mjs FILE.ics
// VTIMEZONEs are registered from the file itself, as Thunderbird does; a TZID that does not
// resolve makes the script fail instead of silently reading floating time.
import { readFileSync } from "node:fs";
import ICAL from "ical.js";

const text = readFileSync(process.argv[2], "utf8");
const root = new ICAL.Component(ICAL.parse(text));
for (const vtz of root.getAllSubcomponents("vtimezone")) {
  ICAL.TimezoneService.register(vtz);
}

function when(time, prop) {
  if (!time) return null;
  if (time.isDate) return { date: time.toString() };
  const tzid = prop ? prop.getParameter("tzid") : null;
  if (tzid && (!time.zone || time.zone.tzid !== tzid)) {
    throw new Error(`TZID ${tzid} did not resolve (zone ${time.zone && time.zone.tzid})`);
  }
  return { utc: time.toJSDate().toISOString().replace(".000Z", "Z"), tzid: tzid };
}

const out = [];
for (const vevent of root.getAllSubcomponents("vevent")) {
  const ev = new ICAL.Event(vevent);
  out.push({
    uid: ev.uid,
    summary: ev.summary,
    status: vevent.getFirstPropertyValue("status"),
    sequence: ev.sequence,
    start: when(ev.startDate, vevent.getFirstProperty("dtstart")),
    end: when(ev.endDate, vevent.getFirstProperty("dtend")),
    alarms: vevent.getAllSubcomponents("valarm").length,
  });
}
process.stdout.write(JSON.stringify(out));
