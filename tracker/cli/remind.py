"""`tracker remind ...`: preview a reminder, run one sending round, show the outbox state."""

from __future__ import annotations

import os
import socket

import click

from tracker.cli.context import AppContext, TrackerSubgroup, emit
from tracker.cli.views import local_text, table
from tracker.db.engine import session_scope
from tracker.errors import printable
from tracker.reminders.mail import preview
from tracker.reminders.outbox import status
from tracker.reminders.plan_view import reminder_plan
from tracker.scheduler.round import FeedPublisher, run_round
from tracker.scheduler.round import dry_run as plan_only
from tracker.timeparse import iso_local, iso_utc, utc_now


@click.group(cls=TrackerSubgroup)
def remind() -> None:
    """Reminder e-mails: preview them, send what is due, see the outbox."""


@remind.command("preview")
@click.argument("deadline_id", metavar="DEADLINE")
@click.option("--member", "email", help="E-mail of the member to render it for "
              "(default: the first follower, else a sample member).")
@click.pass_obj
def remind_preview(app: AppContext, deadline_id: str, email: str | None) -> None:
    """Print the reminder mail for a deadline: headers and the text part.

    Example: tracker remind preview cop12-registration --member amina@example.org
    """
    with session_scope(app.db_url) as session:
        msg = preview(session, app.config, deadline_id, email, utc_now())
    for name, value in msg.items():
        click.echo(f"{name}: {value}")
    click.echo("")
    body = msg.get_body(("plain",))
    click.echo(body.get_content() if body is not None else "")
    for part in msg.iter_attachments():
        click.echo(f"[attachment: {part.get_filename()} ({part.get_content_type()})]")


@remind.command("send-due")
@click.option("--dry-run", is_flag=True, help="List what would be sent; write nothing.")
@click.pass_obj
def remind_send_due(app: AppContext, dry_run: bool) -> None:
    """Run one round now: plan, publish changed feeds, send due reminders.

    Example: tracker remind send-due --dry-run
    """
    if dry_run:
        report = plan_only(app.ready, utc_now())
        for row, to, subject in report.would_send:
            click.echo(f"would send {row.message_id} to {to}: {subject}")
        for row, reason in report.would_skip:
            click.echo(f"would skip {row.message_id}: {reason}")
        click.echo(f"{len(report.would_send)} to send, {len(report.would_skip)} to skip")
        return
    owner = f"cli:{socket.gethostname()}:{os.getpid()}"
    report = run_round(app.ready, utc_now, owner, batch=app.config.mail.batch_size,
                       publish=FeedPublisher())
    click.echo(f"sent {report.sent}, retry later {report.retried}, failed {report.failed}")
    # Exit 1 when due mail did not go out (or the feeds could not be written), so cron and
    # systemd alert; one line says what and the server's latest answer.
    missed = report.retried + report.failed
    problems = []
    if missed:
        problems.append(f"{missed} due reminder{'s' if missed != 1 else ''} not sent"
                        + (f" ({report.last_answer})" if report.last_answer else ""))
    if report.publish_error:
        problems.append(f"feeds not published ({report.publish_error})")
    if problems:
        click.echo(printable("error: " + "; ".join(problems)), err=True)
        raise click.exceptions.Exit(1)


@remind.command("status")
@click.pass_obj
def remind_status(app: AppContext) -> None:
    """Show the outbox: counts by state, the next due moment, the latest failures.

    Example: tracker remind status
    """
    with session_scope(app.db_url) as session:
        st = status(session)
    for state in ("pending", "claimed", "sent", "skipped", "failed"):
        click.echo(f"{state:8} {st.counts.get(state, 0)}")
    if st.next_due:  # in the secretary's zone ([tracker] timezone), and the UTC instant
        click.echo(f"next due: {local_text(st.next_due, app.tz)} ({app.tz}), "
                   f"{iso_utc(st.next_due)}")
    else:
        click.echo("next due: nothing pending (see `tracker remind plan` for what is ahead)")
    for state, email, deadline_id, answer in st.failures:
        click.echo(f"{state}: {email} / {deadline_id}: {answer}")


@remind.command("plan")
@click.argument("deadline_id", metavar="DEADLINE", required=False)
@click.option("--member", "email", help="Only this member's reminders (e-mail).")
@click.option("--json", "as_json", is_flag=True, help="One JSON list on stdout.")
@click.pass_obj
def remind_plan(app: AppContext, deadline_id: str | None, email: str | None,
                as_json: bool) -> None:
    """Every reminder the planner will send (not only the outbox's next two days): member,
    offset, the moment in the member's zone and in yours, and whether it is queued or sent.

    Without DEADLINE: every deadline still ahead.

    Example: tracker remind plan cop12-registration --member amina@example.org
    """
    with session_scope(app.db_url) as session:
        found = reminder_plan(session, app.config, utc_now(), deadline_id, email)
    data = [{
        "deadline": r.deadline_id, "member": r.email, "offset": r.offset,
        "at_utc": iso_utc(r.at), "member_tz": r.member_tz, "at_member": iso_local(r.at, r.member_tz),
        "tz": app.tz, "at": iso_local(r.at, app.tz), "state": r.state,
    } for r in found]
    rows = [[r.deadline_id, r.email, r.offset, f"{local_text(r.at, r.member_tz)} "
             f"({r.member_tz})", local_text(r.at, app.tz), r.state] for r in found]
    emit(data, as_json, table(rows, ["DEADLINE", "MEMBER", "OFFSET", "MEMBER'S TIME",
                                     f"YOUR TIME ({app.tz})", "STATE"]))
