"""`tracker`: the top-level group, `tracker init`, and where every command group is added."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click
from sqlalchemy.engine import make_url

from tracker.cli.context import AppContext, TrackerGroup, in_cli_words
from tracker.cli.data import backup, export
from tracker.cli.extract import extract_command
from tracker.cli.feeds import import_group, publish, serve
from tracker.cli.members import member
from tracker.cli.records import deadline, event
from tracker.cli.remind import remind
from tracker.cli.run import run
from tracker.config import check_db_url, load_config, resolve_db_url
from tracker.db.engine import current_revision, migrate, session_scope
from tracker.errors import TrackerError, printable
from tracker.links import host_of
from tracker.records.demo import load_demo
from tracker.records.sample import is_empty, load_sample
from tracker.timeparse import utc_now


@click.group(cls=TrackerGroup, no_args_is_help=True,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="config.toml to use (default: $TRACKER_CONFIG, else ./config.toml, else built-in).")
@click.option("--db", "db_url", default=None, help="SQLAlchemy database URL; overrides [tracker] database.")
@click.option("-v", "--verbose", is_flag=True, help="Log details, and tracebacks of failures, to stderr.")
@click.pass_context
def main(ctx: click.Context, config_path: str | None, db_url: str | None, verbose: bool) -> None:
    """Events and registration deadlines of the UN crime-prevention bodies.

    Example: tracker deadline add "COP12 registration" --due "4 Oct 2024" --event cop12
    """
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if ctx.resilient_parsing:
        return
    try:
        config = load_config(config_path)
        if db_url:
            config = config.with_database(resolve_db_url(check_db_url(db_url, "--db"), Path.cwd()))
    except TrackerError as exc:
        click.echo(printable(f"error: {in_cli_words(exc, ctx.command)}"), err=True)
        ctx.exit(exc.exit_code)
    ctx.obj = AppContext(config=config, verbose=verbose)



@main.command()
@click.option("--sample", type=click.Path(dir_okay=False),
              help="A sample calendar (TOML) to load when the database has no events yet.")
@click.option("--demo", is_flag=True,
              help="Also load a demo season placed relative to today (titles marked DEMO), "
              "when the database has no events yet.")
@click.pass_obj
def init(app: AppContext, sample: str | None, demo: bool) -> None:
    """Create or upgrade the database schema (safe to run again; keeps every row).

    Example: tracker init --sample examples/cop12.toml --demo
    """
    url = app.config.database_url  # not app.db_url: that one wants the schema made here
    migrate(url)
    click.echo(f"database ready: {_shown_url(url)} (schema {current_revision(url)})")
    if not (sample or demo):
        return
    text = None
    if sample:
        try:
            text = Path(sample).read_text(encoding="utf-8")
        except OSError as exc:
            raise TrackerError("--sample", f"cannot read {sample}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise TrackerError("--sample", f"{sample} is not UTF-8 text; save it as UTF-8") from None
    now, host = utc_now(), host_of(app.base_url)
    with session_scope(app.db_url) as session:
        if not is_empty(session):
            click.echo("sample not loaded: the database already has events")
            return
        lines = []
        if sample and text is not None:
            counts = load_sample(session, text, sample, default_tz=app.tz, host=host, now=now)
            lines.append(f"loaded sample {Path(sample).name}: {counts[0]} events, "
                         f"{counts[1]} deadlines, {counts[2]} members")
        if demo:
            events, deadlines = load_demo(session, host=host, now=now)
            lines.append(f"loaded the demo season (titles start with DEMO:): {events} events, "
                         f"{deadlines} deadlines; the first reminder is due within two minutes")
    click.echo("\n".join(lines))


def _shown_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


for command in (event, deadline, member, publish, serve, import_group, remind, extract_command,
                backup, export, run):
    main.add_command(command)
