// Expand every VEVENT of an iCalendar file with Mozilla's ical.js (Thunderbird's parser) and
// print, as JSON, each occurrence overlapping [FROM, TO): UID, RECURRENCE-ID, start and end as
// UTC instants (timed) or dates (all-day). RRULE, RDATE and EXDATE come from the master VEVENT,
// moved occurrences from the VEVENTs with a RECURRENCE-ID (related as Thunderbird does).
// Usage: node tests/helpers/icaljs_occurrences.mjs FILE.ics FROM_ISO TO_ISO
import { readFileSync } from "node:fs";
import ICAL from "ical.js";

const [, , file, fromIso, toIso] = process.argv;
const root = new ICAL.Component(ICAL.parse(readFileSync(file, "utf8")));
for (const vtz of root.getAllSubcomponents("vtimezone")) {
  ICAL.TimezoneService.register(vtz);
}
const from = new Date(fromIso);
const to = new Date(toIso);

function when(time) {
  if (time.isDate) return { date: time.toString() };
  if (!time.zone || time.zone.tzid === "floating") throw new Error(`floating time ${time}`);
  return { utc: time.toJSDate().toISOString().replace(".000Z", "Z") };
}

const masters = new Map();
const moved = [];
for (const vevent of root.getAllSubcomponents("vevent")) {
  if (vevent.hasProperty("recurrence-id")) moved.push(vevent);
  else masters.set(vevent.getFirstPropertyValue("uid"), new ICAL.Event(vevent));
}
for (const vevent of moved) {
  const master = masters.get(vevent.getFirstPropertyValue("uid"));
  if (!master) throw new Error(`override without a master: ${vevent.getFirstPropertyValue("uid")}`);
  master.relateException(vevent);
}

const out = [];
for (const [uid, ev] of masters) {
  const status = ev.component.getFirstPropertyValue("status");
  if (!ev.isRecurring()) {
    out.push({ uid, recurrence_id: null, start: when(ev.startDate), end: when(ev.endDate), status });
    continue;
  }
  const it = ev.iterator();
  const horizon = new Date(to.getTime() + 366 * 86400000); // moved-in occurrences
  for (let next = it.next(); next; next = it.next()) {
    if (next.toJSDate() >= horizon) break;
    const d = ev.getOccurrenceDetails(next);
    if (d.startDate.toJSDate() >= to || d.endDate.toJSDate() <= from) continue;
    out.push({
      uid, recurrence_id: when(d.recurrenceId), start: when(d.startDate), end: when(d.endDate),
      status: d.item.component.getFirstPropertyValue("status"),
    });
  }
}
process.stdout.write(JSON.stringify(out));
