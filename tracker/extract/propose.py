"""Minutes' lines + a zone (+ a year) -> proposed events and deadlines. Pure: no session, no clock.

How a clause becomes proposals:
1. its kind comes from its words ("list of speakers", "ground pass", "register", "apply",
   "submit", "nominate", "fee"; else "meeting", "session", "dialogue"... make it an event);
   a deadline word without a deadline cue ("by", "close", "until", "due", "issued") in a
   sentence that says "will be held" is an event about that subject;
2. its dates come from `grammar` (strict patterns), each with the nearest clock time or window;
   a yearless date takes the year of the meeting date at the top of the document (the first
   dated line among the first twelve; a date more than 90 days before it is in the next year),
   or `year`; dates before the meeting date, and dates after "was held", "took place" etc., are
   history, not proposals;
3. a date after "open", "from" or "as of" opens the window of the deadline that follows it;
   "at noon on the opening day" is due on the first day of the nearest event in the document;
4. "GMT+1"/"GMT+2"/"CET"/"CEST" beside the times keep the document's zone (never a fixed offset)
   and are checked against it: a stated offset the zone does not have on that day is noted on
   the proposal rather than silently shifting the time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from tracker.errors import TrackerError
from tracker.extract.grammar import ClockHit, DateHit, find_clocks, find_dates, find_zone
from tracker.extract.text import Clause, clauses
from tracker.timeparse import WEEKDAY_NAMES, localize, parse_zone

EVENT = "event"
LABELS = {
    "speakers-list": "List of speakers", "ground-pass": "Ground-pass collection",
    "registration": "Registration", "application": "Applications", "submission": "Submissions",
    "nomination": "Nominations", "payment": "Payment",
}
_KIND_WORDS = (  # the first that matches wins: the most specific first
    ("speakers-list", r"list of speakers|speakers[’']? list|speaking slots?"),
    ("ground-pass", r"ground[s]?[- ]pass|badges?\b"),
    ("nomination", r"nominat|names of (?:the )?(?:their )?(?:delegat|speakers|candidates)|"
                   r"delegation (?:members|names)|"
                   r"composition of (?:the |their )?delegation"),
    ("payment", r"\bfees?\b|payments?\b|\bpay\b|\bpaid\b|\bpayable\b|\bdues\b|invoice"),
    ("application", r"\bappl(?:y|ies|ications?)\b|expressions? of interest|call for proposals"
                    r"|requests? to (?:hold|organi[sz]e|attend|participate)|(?:submit|send) (?:their |your |a )?"
                    r"requests?\b|side[- ]event (?:call|requests?|proposals?)"),
    ("submission", r"\bsubmi(?:t|ts|tted|ssions?)\b|written (?:statements?|contributions?|inputs?)"
                   r"|\bcomments\b|\binputs?\b|\bstatements?\b.*\b(?:sent|send|due)\b"
                   r"|\bcontributions\b|\b(?:needed|returned|provided|sent)\s+by\b"),
    ("registration", r"\bregist(?:er|ers|ered|ration)\b|\bindico\b|accreditation|sign[- ]up"),
)
_EVENT_WORDS = re.compile(
    r"\b(?:meetings?|sessions?|dialogues?|briefings?|webinars?|consultations?|conferences?|"
    r"congress|workshops?|side[- ]events?|parallel[- ]events?|segments?|hearings?|retreats?|seminars?|forums?|"
    r"commission|committee|working groups?|meets|cop\s?\d+|ccpcj|cnd|call|will take place|will be held|takes place|"
    r"is scheduled|will convene|will meet)\b", re.IGNORECASE)
_DEADLINE_CUE = re.compile(
    r"\b(?:by|deadline|no later than|not later than|close[sd]?|closing|due|until|before|opens?|"
    r"latest|expires?|must|required|requested|should|issued|collected|collect|pick(?:ed)? up|"
    r"accepted|invited to)\b", re.IGNORECASE)
_HELD = re.compile(r"\b(?:will take place|will be held|is scheduled|will convene|will meet)\b",
                   re.IGNORECASE)
_PAST = re.compile(
    r"\b(?:was|were|had been|has been|have been)\s+(?:\w+\s+)?(?:held|adopted|launched|"
    r"circulated|discussed|organi[sz]ed|presented|approved|sent|received|submitted|published|"
    r"postponed|convened|attended|hosted|moved|rescheduled|cancelled)\b|\btook place\b|"
    r"\bmet on\b|(?<!\bbe )\b(?:held|attended|hosted|concluded|ended|adopted) on\b|\blast (?:week|month|year)\b"
    r"|\b(?:instead of|originally|previously)\b", re.IGNORECASE)
_OPENS = re.compile(
    r"\b(?:opens?|opened|opening on|will open|from|as of|starting|starts?|begins?|launched|"
    r"available)\b[^.;]*$", re.IGNORECASE)
_CLOSES = re.compile(r"\b(?:close[sd]?|closing|by|until|due|deadline|before|no later than)\b",
                     re.IGNORECASE)
_RANGE_JOIN = re.compile(r"^\s*(?:-|–|—|to|until|till|through)\s*(?:the\s+)?$", re.IGNORECASE)
_OPENING_DAY = re.compile(r"\b(?:opening day|first day|opening of the (?:session|meeting|"
                          r"conference))\b", re.IGNORECASE)
_BACK_REFERENCE = re.compile(
    r"\b(?:the list|it|they|this|the window|the deadline|registration|applications?|"
    r"nominations?|submissions?|passes)\b", re.IGNORECASE)
_YEAR_SAID = re.compile(r"\b(?:in|since|during|of)\s+((?:19|20)\d{2})\b(?![/-])", re.IGNORECASE)
_MOVED = re.compile(r"\b(?:postpon|moved|reschedul)", re.IGNORECASE)
_HEADER_LINES = 12
_DATED_LINE = re.compile(r"\b(?:minutes|date[d:]?|issued|written|prepared|sent|held|of|on)\b"
                         r"[^.]{0,25}$", re.IGNORECASE)
_ROLLOVER = timedelta(days=90)

_CAPITAL_RUN = re.compile(
    r"\b[A-Z][\w’'&-]*(?:\s+(?:(?:of|on|the|for|and|to|in|against|with|de|la)\s+)*"
    r"(?:[A-Z0-9][\w’'&-]*))*")
_HEAD_WORDS = re.compile(
    r"\b(?:meeting|dialogue|session|briefing|conference|congress|commission|consultation|"
    r"webinar|workshop|event|forum|committee|group|segment|cop\s?\d+|ccpcj|cnd|ahc|untoc|"
    r"convention|assembly)\b", re.IGNORECASE)
_LOWER_HEAD = re.compile(
    r"\b((?:(?!the\b|a\b|an\b|our\b|this\b|next\b|its\b)[a-z][\w-]*\s+){0,2}"
    r"(?:meeting|briefing|webinar|consultation|side[- ]event|session|dialogue|workshop|call|"
    r"segment|assembly|retreat|election)s?)\b")
_NOT_TOPIC = {"the", "all", "it", "this", "members", "participants", "please", "gmt", "utc",
              "cet", "cest", "a", "an", "in", "on", "at", "as", "for", "we", "they", "he", "she",
              "mr", "ms", "dr", "if", "note", "following", "by", "there", "delegations",
              "organisations", "organizations", "ngos", "ngo", "secretariat", "un"}
_MONTH_WEEKDAY = re.compile(
    r"^(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|mon|tue|wed|thu|fri|sat|sun)",
    re.IGNORECASE)


@dataclass(frozen=True)
class Moment:
    """A local date, with a wall-clock time or without (a whole day / the end of that day)."""

    day: date
    clock: time | None = None

    def when(self) -> str:
        """As WHEN text the record services read in the proposal's zone."""
        return self.day.isoformat() if self.clock is None else f"{self.day}T{self.clock:%H:%M}"


@dataclass
class Proposal:
    """One event or deadline the document seems to announce, with where it was read."""

    kind: str  # EVENT or a deadline kind
    title: str
    tz: str
    line: int
    sentence: str
    start: Moment | None = None  # events
    end: Moment | None = None
    opens: Moment | None = None  # deadlines
    due: Moment | None = None
    notes: list[str] = field(default_factory=list)
    recorded: str | None = None  # id of an equal item already recorded

    @property
    def is_event(self) -> bool:
        return self.kind == EVENT

    @property
    def main(self) -> Moment:
        """The start of an event, the due moment of a deadline."""
        moment = self.start if self.is_event else self.due
        assert moment is not None
        return moment

    @property
    def key(self) -> tuple[object, ...]:
        return (self.kind, self.start, self.end, self.opens, self.due, self.tz)


@dataclass(frozen=True)
class Extraction:
    """What `extract` read: the meeting date it took years from, and its proposals."""

    reference: date | None
    proposals: list[Proposal]


@dataclass
class _Dated:
    hit: DateHit
    days: list[date]
    clocks: list[ClockHit] = field(default_factory=list)
    role: str = "due"  # "opens" or "due"
    past: bool = False
    aside: bool = False  # "(19-23 May)": context in brackets
    notes: list[str] = field(default_factory=list)


def extract(lines: list[str], *, tz: str, year: int | None = None) -> Extraction:
    """Propose the events and deadlines in `lines`; times are wall-clock times in `tz`."""
    parse_zone(tz, "tz")
    if year is not None and not 1900 <= year <= 2200:
        raise TrackerError("year", f"{year} is not a year such as 2025")
    parts = clauses(lines)
    reference, reference_line = _reference(parts, lines)
    proposals: list[Proposal] = []
    anchored: list[tuple[int, Proposal]] = []  # deadlines due "on the opening day"
    context: _Context | None = None
    for clause in parts:
        if clause.line == reference_line and clause.line_at(len(clause.text)) == reference_line:
            continue  # the meeting these minutes record
        if context is not None and context.paragraph != clause.paragraph:
            context = None
        made, context = _from_clause(clause, tz, year, reference, context)
        for proposal, needs_anchor in made:
            if needs_anchor:
                anchored.append((len(proposals), proposal))
            proposals.append(proposal)
    for index, proposal in anchored:
        _anchor_to_opening_day(proposal, index, proposals)
    unique: dict[tuple[object, ...], Proposal] = {}
    for proposal in proposals:
        if proposal.due is None and proposal.start is None:
            continue  # "on the opening day" with no event in the document
        unique.setdefault(proposal.key, proposal)
    return Extraction(reference, list(unique.values()))


def _reference(parts: list[Clause], lines: list[str]) -> tuple[date | None, int | None]:
    """The meeting date at the top: a full date in the heading (the lines before the first
    blank one), preferring one right after 'Minutes', 'Date:', 'Issued', 'held', 'of'...;
    else the first full date among the first lines."""
    heading_end = next((n for n, line in enumerate(lines, start=1)
                        if not line.strip() and any(x.strip() for x in lines[:n])), len(lines))
    found: list[tuple[bool, bool, date, int]] = []
    for clause in parts:
        if clause.line > _HEADER_LINES:
            break
        for hit in find_dates(clause.text):
            line = clause.line_at(hit.start)
            if hit.year is None or line > _HEADER_LINES:
                continue
            try:
                day = date(hit.year, hit.month, hit.days[0])
            except ValueError:
                continue
            said = bool(_DATED_LINE.search(clause.text[max(0, hit.start - 40):hit.start]))
            found.append((line <= heading_end, said, day, line))
    if not found:
        return None, None
    best = max(found, key=lambda f: (f[0], f[1], -f[3]))
    return best[2], best[3]


def _kind_of(text: str) -> str | None:
    lowered = text.lower()
    for kind, words in _KIND_WORDS:
        if re.search(words, lowered):
            if not _DEADLINE_CUE.search(text) and _HELD.search(text):
                return EVENT
            return kind
    return EVENT if _EVENT_WORDS.search(text) else None


@dataclass
class _Context:
    """The deadline a paragraph is about, for its next sentence ('The list will close ...')."""

    paragraph: int
    kind: str
    title: str
    opening: Moment | None


def _from_clause(
    clause: Clause, tz: str, year: int | None, reference: date | None,
    context: _Context | None,
) -> tuple[list[tuple[Proposal, bool]], _Context | None]:
    text = clause.text
    kind = _kind_of(text) or (_kind_of(clause.lead) if clause.lead else None)
    inherited = context is not None and (kind is None or kind == EVENT) and bool(
        _CLOSES.search(text) or _OPENING_DAY.search(text)) and bool(_BACK_REFERENCE.search(text))
    if inherited:
        assert context is not None
        kind = context.kind
    if kind is None:
        return [], context
    dated = _dates(text, year, reference, clause)
    zone_hint = find_zone(text)
    zone = zone_hint.zone if zone_hint and zone_hint.zone else tz
    if kind == EVENT:
        title = _topic(text) or _topic(clause.lead) or _first_words(text)
        made = [(p, False) for p in _events(title, text, dated, clause, zone)]
        context = None
    else:
        title = context.title if inherited and context else (
            LABELS[kind] + (f": {topic}" if (topic := _topic(text)) else ""))
        opening = context.opening if inherited and context else None
        made, left = _deadlines(kind, title, text, dated, clause, zone, opening)
        context = _Context(clause.paragraph, kind, title, left)
    for proposal, _ in made:
        _check_stated_offset(proposal, zone_hint.text if zone_hint else None,
                             zone_hint.offset_minutes if zone_hint else None)
    return made, context


def _dates(text: str, year: int | None, reference: date | None, clause: Clause) -> list[_Dated]:
    hits = find_dates(text)
    clocks = find_clocks(text)
    dated: list[_Dated] = []
    previous_end = 0
    for hit in hits:
        said = _YEAR_SAID.findall(text[:hit.start])  # "In 2025 ... on 17 March": 2025
        hit_year = year if hit.year or not said else int(said[-1])
        days = [_resolve(hit, day, hit_year, reference, clause) for day in _days_of(hit)]
        before = text[previous_end:hit.start]
        previous_end = hit.end
        if any(d is None for d in days):
            continue
        resolved = [d for d in days if d is not None]
        item = _Dated(hit, resolved)
        item.aside = text[:hit.start].rstrip().endswith("(") and text[hit.end:].lstrip()[:1] == ")"
        note = weekday_note(hit, resolved[0])
        if note:
            item.notes.append(note)
        item.past = bool(_PAST.search(before)) or (
            reference is not None and resolved[-1] < reference)
        if _OPENS.search(before) and not _CLOSES.search(before.split(",")[-1]):
            item.role = "opens"
        dated.append(item)
    for clock in clocks:
        nearest = _nearest(clock, dated)
        if nearest is not None:
            nearest.clocks.append(clock)
    return dated


def _days_of(hit: DateHit) -> list[int]:
    return list(hit.days)


def _resolve(
    hit: DateHit, day: int, year: int | None, reference: date | None, clause: Clause
) -> date | None:
    chosen = hit.year or year
    if chosen is None:
        if reference is None:
            raise TrackerError(
                "year",
                f"line {clause.line_at(hit.start)}: '{clause.text[hit.start:hit.end]}' has no "
                "year and the document has no dated heading; give the year",
            )
        chosen = reference.year
        try:
            if date(chosen, hit.month, day) < reference - _ROLLOVER:
                chosen += 1
        except ValueError:
            return None
    try:
        return date(chosen, hit.month, day)
    except ValueError:
        return None


def _nearest(clock: ClockHit, dated: list[_Dated]) -> _Dated | None:
    best, best_distance = None, 10**9
    for item in dated:
        if clock.start >= item.hit.end:
            distance = clock.start - item.hit.end
        elif clock.end <= item.hit.start:
            distance = item.hit.start - clock.end
        else:
            continue
        if distance < best_distance:
            best, best_distance = item, distance
    return best


def _moment(day: date, clock: time | None, midnight: bool = False) -> Moment:
    if midnight:  # "by midnight on 4 October": the end of 4 October, i.e. due on that date
        return Moment(day)
    return Moment(day, clock)


def _events(
    title: str, text: str, dated: list[_Dated], clause: Clause, tz: str
) -> list[Proposal]:
    current = [d for d in dated if not d.past]
    out: list[Proposal] = []
    i = 0
    while i < len(current):
        item = current[i]
        line = clause.line_at(item.hit.start)

        def event(start: Moment, end: Moment | None, line: int = line,
                  notes: list[str] = item.notes) -> Proposal:
            return Proposal(EVENT, title, tz, line, clause.sentence, start=start, end=end,
                            notes=list(notes))

        following = current[i + 1] if i + 1 < len(current) else None
        if following is not None and not _MOVED.search(text) and _joined(text, item, following):
            first, last = item.clocks, following.clocks
            if len(first) == 1 and len(last) == 1 and not first[0].last and not last[0].last:
                out.append(event(Moment(item.days[0], first[0].first),
                                 Moment(following.days[-1], last[0].first)))
            else:  # whole days (sessions inside them are the event's business)
                out.append(event(Moment(item.days[0]), Moment(following.days[-1])))
            i += 2
            continue
        days = item.days
        spans_days = item.hit.is_range or (len(days) == 2 and days[1] - days[0] == timedelta(1))
        if spans_days and len(item.clocks) != 1:  # "3 and 4 July, 10-13 and 15-18": whole days
            out.append(event(Moment(days[0]), Moment(days[-1])))
        else:
            for day in days:
                if item.clocks:
                    clock = item.clocks[0]
                    end = Moment(day, clock.last) if clock.last else None
                    out.append(event(Moment(day, clock.first), end))
                else:
                    out.append(event(Moment(day), None))
        i += 1
    return out


def _joined(text: str, item: _Dated, following: _Dated) -> bool:
    """'14 October to 18 October', or 'Tues 1 July and Wed 2 July' (days in a row)."""
    between = text[item.hit.end:following.hit.start]
    if _RANGE_JOIN.match(between):
        return True
    return (re.fullmatch(r"\s*(?:and|&)\s*", between, re.IGNORECASE) is not None
            and following.days[0] - item.days[-1] == timedelta(days=1))


def _deadlines(
    kind: str, title: str, text: str, dated: list[_Dated], clause: Clause, tz: str,
    opening: Moment | None,
) -> tuple[list[tuple[Proposal, bool]], Moment | None]:
    """The clause's deadlines, and an opening left without a closing date (for the next one)."""
    out: list[tuple[Proposal, bool]] = []
    if any(not d.aside for d in dated):
        dated = [d for d in dated if not d.aside]
    for item in dated:
        line = clause.line_at(item.hit.start)

        def deadline(due: Moment, opens: Moment | None, line: int = line,
                     notes: list[str] = item.notes) -> Proposal:
            return Proposal(kind, title, tz, line, clause.sentence, opens=opens, due=due,
                            notes=list(notes))

        if item.role == "opens" and not any(c.last for c in item.clocks):
            opening = Moment(item.days[0], item.clocks[0].first if item.clocks else None)
            continue
        if item.past:
            continue
        if item.hit.is_range and not item.clocks:
            out.append((deadline(Moment(item.days[-1]), Moment(item.days[0])), False))
        elif item.clocks and any(c.last for c in item.clocks):
            for day in item.days:
                for clock in item.clocks:
                    opens = Moment(day, clock.first) if clock.last else opening
                    due = Moment(day, clock.last or clock.first)
                    out.append((deadline(due, opens), False))
        else:
            for day in item.days:
                single = item.clocks[0] if item.clocks else None
                due = _moment(day, single.first, single.midnight) if single else Moment(day)
                out.append((deadline(due, opening), False))
        opening = None
    if not out and _OPENING_DAY.search(text):  # "closes at noon on the opening day"
        out.append((Proposal(kind, title, tz, clause.line, clause.sentence, opens=opening), True))
        opening = None
    return out, opening


def _clock_after(text: str, position: int) -> time | None:
    clocks = [c for c in find_clocks(text) if c.start >= position] or find_clocks(text)
    return clocks[0].first if clocks else None


def _anchor_to_opening_day(proposal: Proposal, index: int, proposals: list[Proposal]) -> None:
    """Due on the first day of the nearest event before it (else after it) in the document."""
    events = [(i, p) for i, p in enumerate(proposals) if p.is_event and p.start is not None]
    before = [p for i, p in events if i < index]
    after = [p for i, p in events if i > index]
    anchor = before[-1] if before else (after[0] if after else None)
    clock = _clock_after(proposal.sentence, 0) or time(12, 0)
    if anchor is None or anchor.start is None:
        proposal.due = None
        return
    proposal.due = Moment(anchor.start.day, clock)
    proposal.notes.append(f"due on the opening day of '{anchor.title}' ({anchor.start.day})")
    if proposal.opens is not None and proposal.opens.day >= anchor.start.day:
        proposal.opens = None


def _check_stated_offset(proposal: Proposal, text: str | None, minutes: int | None) -> None:
    """A stated 'GMT+1' must be what the zone is on that day; say so when it is not."""
    if minutes is None or text is None:
        return
    for moment in (proposal.start, proposal.end, proposal.opens, proposal.due):
        if moment is None or moment.clock is None:
            continue
        zone = ZoneInfo(proposal.tz)
        try:
            local = localize(datetime.combine(moment.day, moment.clock), zone)
        except TrackerError as exc:
            proposal.notes.append(exc.message)
            return
        actual = local.utcoffset()
        assert actual is not None
        if actual != timedelta(minutes=minutes):
            proposal.notes.append(
                f"the text says {text} but {proposal.tz} is {_gmt(actual)} on {moment.day}; "
                f"kept {moment.clock:%H:%M} {proposal.tz} time: check it"
            )
            return


def _gmt(offset: timedelta) -> str:
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"GMT{sign}{hours}" + (f":{rest:02d}" if rest else "")


def _topic(text: str) -> str:
    """The name the clause gives its subject: 'Constructive Dialogue on Firearms', 'COP12'."""
    masked = text
    for hit in find_dates(text):
        masked = masked[:hit.start] + " " * (hit.end - hit.start) + masked[hit.end:]
    runs = []
    for m in _CAPITAL_RUN.finditer(masked):
        if re.search(r"\bRoom\b", m.group(0)):
            continue
        words = m.group(0).split()
        while words and (words[0].lower().strip("’'") in _NOT_TOPIC
                         or _MONTH_WEEKDAY.match(words[0]) and len(words[0]) <= 9):
            words = words[1:]
        while words and words[-1].lower() in ("of", "on", "the", "for", "and", "to", "in"):
            words = words[:-1]
        if words:
            runs.append(" ".join(words))
    with_head = [r for r in runs if _HEAD_WORDS.search(r)]
    if with_head:
        return max(with_head, key=len)
    lower = _LOWER_HEAD.search(masked)
    if lower:
        phrase = " ".join(lower.group(1).split())
        return phrase[:1].upper() + phrase[1:]
    return ""


def _first_words(text: str, count: int = 8) -> str:
    words = re.sub(r"\s+", " ", text).strip(" .;:").split(" ")
    return " ".join(words[:count]) + (" ..." if len(words) > count else "")


def instant(moment: Moment, tz: str, *, end_of_day: bool = False) -> datetime:
    """The UTC instant of a moment in `tz` (a date alone: its start, or 23:59 for a due date)."""
    clock = moment.clock or (time(23, 59) if end_of_day else time(0, 0))
    return localize(datetime.combine(moment.day, clock), ZoneInfo(tz)).astimezone(UTC)


def weekday_note(hit: DateHit, day: date) -> str | None:
    if hit.weekday is not None and hit.weekday != day.weekday():
        return (f"the text says {WEEKDAY_NAMES[hit.weekday]} but {day:%d %b %Y} is a "
                f"{WEEKDAY_NAMES[day.weekday()]}")
    return None
