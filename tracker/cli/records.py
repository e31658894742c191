"""`tracker event ...` and `tracker deadline ...`: parse, call one service function, print."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import click
from sqlalchemy.orm import Session

from tracker.cli.context import AppContext, TrackerSubgroup, changed_line, emit
from tracker.cli.views import (
    deadline_dict,
    deadlines_table,
    details,
    events_table,
    listed,
    local_text,
    recurrence_details,
    shown_or_unreadable,
)
from tracker.db.engine import session_scope
from tracker.errors import TrackerError
from tracker.links import host_of
from tracker.records import deadlines as dl
from tracker.records import events as ev
from tracker.records.lookup import get_deadline, get_event
from tracker.records.models import Deadline, Event
from tracker.reminders import removal
from tracker.timeparse import utc_now

F = TypeVar("F", bound=Callable[..., Any])
WHEN_HELP = ("ISO 8601 (2024-10-14T12:00, with or without +02:00), 2024-10-14, 14/10/2024 12:00, "
             "'14 Oct 2024 12:00', '14 Oct 2024 noon'")


# --- events ------------------------------------------------------------------------------

@click.group(cls=TrackerSubgroup)
def event() -> None:
    """Record, change and cancel events (sessions, meetings, side events)."""


def event_options(edit: bool) -> Callable[[F], F]:
    def wrap(f: F) -> F:
        opts = [
            click.option("--start", help=f"When it starts: {WHEN_HELP}. A date alone makes an "
                         "all-day event."),
            click.option("--end", help="When it ends: a WHEN, or just a time such as 16:30 on "
                         "the start day (default: one hour after a timed start; all-day: the "
                         "start day)."),
            click.option("--tz", help="IANA zone of times without an offset (default: the "
                         "configured zone)." + (" Alone, it keeps the wall-clock times and "
                                                 "moves them to this zone." if edit else "")),
            click.option("--all-day/--timed", "all_day", default=None,
                         help="Whole days (dates) or a timed event."),
            click.option("--series", multiple=True, help="Series tag, repeatable: ccpcj, "
                         "untoc-cop, ahc, cd, congress, informal, side-event, ..."),
            click.option("--location", help="Venue and room, e.g. 'Vienna International "
                         "Centre, CR7'."),
            click.option("--mode", help="in-person, online or hybrid."),
            click.option("--url", help="Web page (e.g. the INDICO page)."),
            click.option("--description", help="Free text shown in calendars."),
            click.option("--visibility", help="public, members (private feeds only) or private "
                         "(no feed)."),
            click.option("--status", help="confirmed or tentative" + (", or cancelled" if edit
                                                                      else "") + "."),
            click.option("--repeat", help="Make it recurring: daily, weekly, fortnightly, "
                         "monthly, yearly, or an RFC 5545 RRULE such as 'FREQ=MONTHLY;BYDAY=2WE' "
                         "(the second Wednesday). Occurrences keep the wall-clock time in the "
                         "event's zone." + (" 'none' makes it a single event." if edit else "")),
            click.option("--until", help="With --repeat: the last day (or WHEN) an occurrence "
                         "may start."),
            click.option("--count", type=int, help="With --repeat: how many occurrences."),
        ]
        if edit:
            opts.insert(0, click.option("--title", help="New title."))
        for opt in reversed(opts):
            f = opt(f)
        return f
    return wrap


def _occurrence_status(session: Session, event_id: str, on: str, status: str,
                       times: str | None) -> None:
    """--on DATE --status cancelled|confirmed: cancel one occurrence, or put it back."""
    if times is not None:
        raise TrackerError("status", "give --status or --start/--end with --on, not both")
    if status == "cancelled":
        original = ev.cancel_occurrence(session, event_id, on, now=utc_now())
        click.echo(f"cancelled the occurrence of {event_id} on "
                   f"{local_text(original, get_event(session, event_id).tz)}")
    elif status == "confirmed":
        original = ev.restore_occurrence(session, event_id, on, now=utc_now())
        click.echo(f"restored the occurrence of {event_id} on "
                   f"{local_text(original, get_event(session, event_id).tz)}")
    else:
        raise TrackerError("status", "with --on is cancelled or confirmed (put it back)")


def _warn(text: str) -> None:
    click.echo(f"warning: {text}", err=True)


def _warn_if_past_event(record: Event, now: datetime) -> None:
    """Recording the past is allowed (minutes of a meeting held), but rarely meant."""
    if not ev.event_occurrences(record, window_start=now, window_end=ev.FAR_FUTURE):
        what = "every occurrence of it has ended" if record.rrule else (
            f"it ended {local_text(record.end_utc, record.tz)}")
        _warn(f"event {record.id} is in the past ({what}); it was recorded anyway")


def _warn_if_past_deadline(record: Deadline, now: datetime) -> None:
    if record.due_utc < now:
        _warn(f"deadline {record.id} is in the past (due {local_text(record.due_utc, record.tz)}"
              "); it was recorded anyway, and no reminders will be sent for it")


def _event_input(title: str | None, series: tuple[str, ...], **kw: Any) -> ev.EventInput:
    return ev.EventInput(title=title, series=list(series) if series else None, **kw)


@event.command("add")
@click.argument("title")
@event_options(edit=False)
@click.option("--id", "event_id", help="Short id to refer to it (default: made from the title).")
@click.pass_obj
def event_add(app: AppContext, /, title: str, series: tuple[str, ...], event_id: str | None,
              **kw: Any) -> None:
    """Record an event.

    Example: tracker event add "COP12" --start 2024-10-14 --end 2024-10-18 --series untoc-cop
    """
    now = utc_now()
    with session_scope(app.db_url) as session:
        record = ev.add_event(session, _event_input(title, series, **kw), event_id=event_id,
                              default_tz=app.tz, host=host_of(app.config.tracker.base_url),
                              now=now)
        click.echo(f"added event {record.id}: {record.title}")
        _warn_if_past_event(record, now)


@event.command("edit")
@click.argument("event_id", metavar="ID")
@event_options(edit=True)
@click.option("--on", "on", help="A recurring event's occurrence (its date) to move with "
              "--start/--end, or to cancel or put back with --status cancelled|confirmed, "
              "leaving the others as they are.")
@click.pass_obj
def event_edit(app: AppContext, /, event_id: str, title: str | None, series: tuple[str, ...],
               on: str | None, **kw: Any) -> None:
    """Change an event; calendars see the change (SEQUENCE grows).

    Example: tracker event edit cop12 --start 2024-10-15 --end 2024-10-19

    Example: tracker event edit informal --on 2027-03-10 --start 16:00
    """
    with session_scope(app.db_url) as session:
        if on is not None:
            others = [k for k, v in kw.items()
                      if v is not None and k not in ("start", "end", "status")]
            if title is not None or series or others:
                name = "title" if title is not None else "series" if series else others[0]
                raise TrackerError(name, "cannot change with --on (one occurrence); "
                                         "only --start, --end and --status can")
            if kw["status"] is not None:
                _occurrence_status(session, event_id, on, kw["status"], kw["start"] or kw["end"])
                return
            occ = ev.move_occurrence(session, event_id, on, kw["start"], kw["end"],
                                     now=utc_now())
            record = get_event(session, event_id)
            click.echo(f"moved the {on} occurrence of {event_id} to "
                       f"{local_text(occ.start_utc, record.tz)} (sequence {record.sequence})")
            if occ.end_utc < utc_now():
                _warn(f"that occurrence is now in the past "
                      f"({local_text(occ.start_utc, record.tz)})")
            return
        now = utc_now()
        changed = ev.edit_event(session, event_id, _event_input(title, series, **kw), now=now)
        record = get_event(session, event_id)
        click.echo(changed_line("event", event_id, changed, record.sequence))
        if {"start_utc", "end_utc", "start_date", "tz", "repeat"} & set(changed):
            _warn_if_past_event(record, now)


@event.command("cancel")
@click.argument("event_id", metavar="ID")
@click.option("--on", "on", help="Cancel only this occurrence (its date) of a recurring event.")
@click.pass_obj
def event_cancel(app: AppContext, event_id: str, on: str | None) -> None:
    """Cancel an event and its open deadlines (they stay in feeds as cancelled for a while).

    Example: tracker event cancel informal-2024-11

    Example: tracker event cancel informal --on 2027-02-10
    """
    with session_scope(app.db_url) as session:
        if on is not None:
            original = ev.cancel_occurrence(session, event_id, on, now=utc_now())
            record = get_event(session, event_id)
            click.echo(f"cancelled the occurrence of {event_id} on "
                       f"{local_text(original, record.tz)}")
            return
        record, deadlines = ev.cancel_event(session, event_id, now=utc_now())
        click.echo(f"cancelled event {record.id}" + (
            f" and its deadlines {', '.join(d.id for d in deadlines)}" if deadlines else ""))


@event.command("delete")
@click.argument("event_id", metavar="ID")
@click.option("--yes", is_flag=True, help="Do not ask (for scripts).")
@click.pass_obj
def event_delete(app: AppContext, event_id: str, yes: bool) -> None:
    """Delete an event entered by mistake, with its deadlines and their pending reminders.

    Feeds drop it at the next publish; mail already sent stays in `remind status`. For a real
    cancellation use `event cancel`, which calendars show.

    Example: tracker event delete informal-typo --yes
    """
    with session_scope(app.db_url) as session:
        record = get_event(session, event_id)
        also = [d.id for d in record.deadlines]
        _confirm(yes, f"Delete event {record.id} ({record.title})"
                 + (f" and its deadlines {', '.join(also)}" if also else "") + "?")
        removed = removal.delete_event(session, event_id)
        click.echo(_removed_line(removed))


@event.command("list")
@click.option("--upcoming", is_flag=True, help="Only events that have not ended and are not "
              "cancelled (a recurring event: its coming occurrences).")
@click.option("--all", "show_all", is_flag=True, help="With --upcoming: cancelled ones too.")
@click.option("--series", help="Only events with this series tag.")
@click.option("--json", "as_json", is_flag=True, help="One JSON list on stdout.")
@click.pass_obj
def event_list(app: AppContext, upcoming: bool, show_all: bool, series: str | None,
               as_json: bool) -> None:
    """List events, times in each event's own zone; a recurring one once per occurrence.

    Example: tracker event list --upcoming --series untoc-cop
    """
    with session_scope(app.db_url) as session:
        rows = ev.list_occurrences(session, now=utc_now(), upcoming=upcoming, series=series,
                                   include_cancelled=True if show_all else None)
        emit(listed(rows), as_json, events_table(rows))


@event.command("show")
@click.argument("event_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@click.pass_obj
def event_show(app: AppContext, event_id: str, as_json: bool) -> None:
    """Show one event.

    Example: tracker event show cop12 --json
    """
    with session_scope(app.db_url) as session:
        record = get_event(session, event_id)
        data = shown_or_unreadable(record, "event")
        if record.rrule:
            data.update(recurrence_details(record, utc_now()))
        emit(data, as_json, details(data))


# --- deadlines ---------------------------------------------------------------------------

@click.group(cls=TrackerSubgroup)
def deadline() -> None:
    """Record, change and cancel deadlines (registrations, lists of speakers, ground passes)."""


def deadline_options(edit: bool) -> Callable[[F], F]:
    def wrap(f: F) -> F:
        opts = [
            click.option("--due", help=f"When it is due: {WHEN_HELP}. A date alone means the "
                         "end of that day (23:59) in its zone."),
            click.option("--opens", help="When the window opens (a WHEN; a date means the "
                         "start of that day)." + (" 'none' removes it." if edit else "")),
            click.option("--tz", help="IANA zone of times without an offset (default: the "
                         "event's zone, else the configured zone)."),
            click.option("--event", "event", help="Id of the event it belongs to."),
            click.option("--kind", help="registration, speakers-list, ground-pass, application, "
                         "submission, nomination, payment or other."),
            click.option("--series", multiple=True, help="Series tag (repeatable), added to "
                         "the event's."),
            click.option("--url", help="Where to do it (e.g. the INDICO registration page)."),
            click.option("--notes", help="What to do: instructions shown in feeds and e-mails."),
            click.option("--email", help="E-mail address to write to, if any."),
            click.option("--location", help="Where, for in-person deadlines (e.g. 'VIC Gate 1')."),
            click.option("--remind", help="Reminder offsets overriding the defaults, e.g. "
                         "14d,3d,1d,2h" + (" ('default' to clear)." if edit else ".")),
            click.option("--visibility", help="public, members or private."),
        ]
        if edit:
            opts.insert(0, click.option("--title", help="New title."))
            opts.append(click.option("--status", help="open, extended or cancelled."))
        for opt in reversed(opts):
            f = opt(f)
        return f
    return wrap


def _deadline_input(title: str | None, series: tuple[str, ...], **kw: Any) -> dl.DeadlineInput:
    return dl.DeadlineInput(title=title, series=list(series) if series else None, **kw)


@deadline.command("add")
@click.argument("title")
@deadline_options(edit=False)
@click.option("--id", "deadline_id", help="Short id (default: made from the title).")
@click.pass_obj
def deadline_add(app: AppContext, /, title: str, series: tuple[str, ...], deadline_id: str | None,
                 **kw: Any) -> None:
    """Record a deadline.

    Example: tracker deadline add "COP12 list of speakers" --kind speakers-list
    --opens 2024-09-02 --due "14 Oct 2024 noon" --event cop12
    """
    now = utc_now()
    with session_scope(app.db_url) as session:
        record = dl.add_deadline(session, _deadline_input(title, series, **kw),
                                 deadline_id=deadline_id, default_tz=app.tz,
                                 host=host_of(app.config.tracker.base_url), now=now)
        click.echo(f"added deadline {record.id}: {record.title}, due "
                   f"{deadline_dict(record)['due']} ({record.tz})")
        _warn_if_past_deadline(record, now)


@deadline.command("edit")
@click.argument("deadline_id", metavar="ID")
@deadline_options(edit=True)
@click.pass_obj
def deadline_edit(app: AppContext, /, deadline_id: str, title: str | None, series: tuple[str, ...],
                  **kw: Any) -> None:
    """Change a deadline; a later due time marks it extended.

    Example: tracker deadline edit cop12-registration --due "11 Oct 2024"
    """
    with session_scope(app.db_url) as session:
        now = utc_now()
        changed = dl.edit_deadline(session, deadline_id, _deadline_input(title, series, **kw),
                                   now=now)
        record = get_deadline(session, deadline_id)
        click.echo(changed_line("deadline", deadline_id, changed, record.sequence))
        if {"due_utc", "due_date", "tz"} & set(changed):
            _warn_if_past_deadline(record, now)


@deadline.command("cancel")
@click.argument("deadline_id", metavar="ID")
@click.pass_obj
def deadline_cancel(app: AppContext, deadline_id: str) -> None:
    """Cancel a deadline (it stays in feeds as cancelled for a while).

    Example: tracker deadline cancel cop12-side-event-applications
    """
    with session_scope(app.db_url) as session:
        record = dl.cancel_deadline(session, deadline_id, now=utc_now())
        click.echo(f"cancelled deadline {record.id}")


@deadline.command("delete")
@click.argument("deadline_id", metavar="ID")
@click.option("--yes", is_flag=True, help="Do not ask (for scripts).")
@click.pass_obj
def deadline_delete(app: AppContext, deadline_id: str, yes: bool) -> None:
    """Delete a deadline entered by mistake, with its pending reminders (no notice is sent).

    Feeds drop it at the next publish; mail already sent stays in `remind status`. For a real
    cancellation use `deadline cancel`, which members are told about.

    Example: tracker deadline delete cop12-registraton --yes
    """
    with session_scope(app.db_url) as session:
        record = get_deadline(session, deadline_id)
        _confirm(yes, f"Delete deadline {record.id} ({record.title})?")
        click.echo(_removed_line(removal.delete_deadline(session, deadline_id)))


def _confirm(yes: bool, question: str) -> None:
    """Ask on a terminal; without one, --yes is required (nothing is deleted silently)."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise TrackerError("yes", "is needed to delete without a terminal to ask on")
    if not click.confirm(question, default=False):
        raise TrackerError("yes", "not given: nothing was deleted")


def _removed_line(removed: removal.Removed) -> str:
    text = f"deleted {removed.kind} {removed.id}"
    if removed.deadlines:
        text += f" and its deadlines {', '.join(removed.deadlines)}"
    if removed.dropped_reminders:
        text += f"; {removed.dropped_reminders} pending reminders dropped"
    return text


@deadline.command("list")
@click.option("--upcoming", is_flag=True, help="Only deadlines not yet due and not cancelled.")
@click.option("--all", "show_all", is_flag=True, help="With --upcoming: cancelled ones too.")
@click.option("--event", "event", help="Only deadlines of this event.")
@click.option("--kind", help="Only deadlines of this kind.")
@click.option("--series", help="Only deadlines with this series tag (their own or their "
              "event's).")
@click.option("--json", "as_json", is_flag=True, help="One JSON list on stdout.")
@click.pass_obj
def deadline_list(app: AppContext, upcoming: bool, show_all: bool, event: str | None,
                  kind: str | None, series: str | None, as_json: bool) -> None:
    """List deadlines by due time, shown in each deadline's own zone.

    Example: tracker deadline list --upcoming --kind registration
    """
    with session_scope(app.db_url) as session:
        records = dl.list_deadlines(session, now=utc_now(), upcoming=upcoming, event=event,
                                    kind=kind, series=series,
                                    include_cancelled=True if show_all else None)
        emit(listed(records), as_json, deadlines_table(records))


@deadline.command("show")
@click.argument("deadline_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@click.pass_obj
def deadline_show(app: AppContext, deadline_id: str, as_json: bool) -> None:
    """Show one deadline.

    Example: tracker deadline show cop12-speakers --json
    """
    with session_scope(app.db_url) as session:
        data = shown_or_unreadable(get_deadline(session, deadline_id), "deadline")
        emit(data, as_json, details(data))
