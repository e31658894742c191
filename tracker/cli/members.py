"""`tracker member ...`: parse, call one service function, print."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from tracker.cli.context import AppContext, TrackerSubgroup, emit
from tracker.cli.progress import progress_bar
from tracker.cli.views import details, member_dict, members_table
from tracker.db.engine import session_scope
from tracker.errors import TrackerError
from tracker.records import members as mb
from tracker.records.lookup import get_member
from tracker.timeparse import utc_now

F = TypeVar("F", bound=Callable[..., Any])


@click.group(cls=TrackerSubgroup)
def member() -> None:
    """Manage the members who get feeds and reminder e-mails."""


def member_options(f: F) -> F:
    for opt in reversed([
        click.option("--name", help="Full name."),
        click.option("--org", "organisation", help="Organisation."),
        click.option("--tz", help="The member's IANA zone, e.g. Africa/Lagos, Asia/Karachi, "
                     "America/Halifax (default: the configured zone)."),
        click.option("--series", multiple=True, help="Series tag to follow, repeatable "
                     "(none: every series; on edit, --series '' follows every series again)."),
        click.option("--kind", "kinds", multiple=True, help="Deadline kind to follow, "
                     "repeatable (none: every kind)."),
        click.option("--remind", help="Own reminder offsets, e.g. 7d,1d,2h ('default' to use "
                     "the defaults)."),
    ]):
        f = opt(f)
    return f


def _input(series: tuple[str, ...], kinds: tuple[str, ...], **kw: Any) -> mb.MemberInput:
    return mb.MemberInput(series=list(series) if series else None,
                          kinds=list(kinds) if kinds else None, **kw)


@member.command("add")
@click.argument("email")
@member_options
@click.pass_obj
def member_add(app: AppContext, /, email: str, series: tuple[str, ...], kinds: tuple[str, ...],
               **kw: Any) -> None:
    """Add a member.

    Example: tracker member add amina@example.org --name "Amina Bello" --tz Africa/Lagos
    --series untoc-cop --series ccpcj
    """
    with session_scope(app.db_url) as session:
        record = mb.add_member(session, email, _input(series, kinds, **kw), default_tz=app.tz,
                               now=utc_now())
        click.echo(f"added member {record.email} ({record.tz})")


@member.command("import")
@click.argument("csv_file", metavar="FILE.csv", type=click.Path(dir_okay=False))
@click.pass_obj
def member_import(app: AppContext, csv_file: str) -> None:
    """Add or update members from a CSV file: all rows or none.

    The header row is email,name,organisation,tz,series,remind (series space-separated,
    empty = all; remind as OFFSETS, empty = defaults). An existing e-mail is updated.

    Example: tracker member import members.csv
    """
    path = Path(csv_file)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise TrackerError("FILE.csv", f"no file at {path}") from None
    except UnicodeDecodeError:
        raise TrackerError("FILE.csv", "is not UTF-8 text; save it as 'CSV UTF-8'") from None
    with session_scope(app.db_url) as session, progress_bar() as progress:
        report = mb.import_members(session, text, default_tz=app.tz, now=utc_now(),
                                   source=csv_file, progress=progress)
    click.echo(f"imported {path.name}: {report.added} added, {report.updated} updated, "
               f"{report.unchanged} unchanged")


@member.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON list on stdout.")
@click.pass_obj
def member_list(app: AppContext, as_json: bool) -> None:
    """List members.

    Example: tracker member list --json
    """
    with session_scope(app.db_url) as session:
        records = mb.list_members(session)
        emit([member_dict(m, app.config.tracker.base_url) for m in records], as_json,
             members_table(records))


@member.command("show")
@click.argument("email")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@click.pass_obj
def member_show(app: AppContext, email: str, as_json: bool) -> None:
    """Show a member, with the private feed URL to give them.

    Example: tracker member show amina@example.org
    """
    with session_scope(app.db_url) as session:
        data = member_dict(get_member(session, email), app.config.tracker.base_url)
        emit(data, as_json, details(data))


@member.command("edit")
@click.argument("email")
@member_options
@click.option("--active/--inactive", "active", default=None,
              help="Whether they are a member at all: private feed and e-mail (sets both).")
@click.option("--mail/--no-mail", "mail", default=None,
              help="Whether they get reminder e-mails; the private feed keeps working.")
@click.option("--rotate-token", is_flag=True,
              help="Give the member a new private feed URL (the old one stops working).")
@click.pass_obj
def member_edit(app: AppContext, /, email: str, series: tuple[str, ...], kinds: tuple[str, ...],
                rotate_token: bool, **kw: Any) -> None:
    """Change a member.

    Example: tracker member edit amina@example.org --tz Europe/Vienna --remind 7d,1d
    """
    with session_scope(app.db_url) as session:
        changed = mb.edit_member(session, email, _input(series, kinds, **kw), now=utc_now(),
                                 rotate_token=rotate_token)
        record = get_member(session, email)
        click.echo(f"member {record.email}: " + (f"changed {', '.join(changed)}" if changed
                                                 else "nothing changed"))
        if rotate_token:
            click.echo(f"new feed URL: {member_dict(record, app.config.tracker.base_url)['feed_url']}")


@member.command("remove")
@click.argument("email")
@click.pass_obj
def member_remove(app: AppContext, email: str) -> None:
    """Remove a member: no more e-mails, and the private feed stops working.

    Example: tracker member remove former@example.org
    """
    with session_scope(app.db_url) as session:
        record = mb.remove_member(session, email)
        click.echo(f"removed member {record.email}")
