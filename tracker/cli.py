"""The secretary's command line: parse, call one service function, print.

Every command runs through `TrackerGroup.invoke`, the one error funnel: a TrackerError becomes
one line on stderr and exit status 2 (bad input) or 1 (operational failure); anything else
becomes one line that says to rerun with -v, and -v shows the traceback.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from typing import Any

import click

from tracker.config import Config, load_config
from tracker.errors import TrackerError

log = logging.getLogger(__name__)


@dataclass
class AppContext:
    """What every command needs: the validated config (with --db applied)."""

    config: Config
    verbose: bool = False

    @property
    def db_url(self) -> str:
        return self.config.database_url

    @property
    def tz(self) -> str:
        return self.config.tracker.timezone


class TrackerGroup(click.Group):
    """A click group whose invoke is the single place errors are turned into messages."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        """Usage errors too become one line (click's own are four) and exit status 2."""
        try:
            result = super().main(*args, standalone_mode=False, **kwargs)
        except click.exceptions.NoArgsIsHelpError as exc:
            click.echo(exc.ctx.get_help() if exc.ctx else "tracker --help")
            result = 0
        except click.UsageError as exc:
            where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
            click.echo(f"error: {exc.format_message()}{where}", err=True)
            result = 2
        except click.Abort:
            click.echo("aborted", err=True)
            result = 1
        if not standalone_mode:
            return result
        sys.exit(result if isinstance(result, int) else 0)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TrackerError as exc:
            log.debug("tracker error", exc_info=True)
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except Exception as exc:  # the last resort: one line, traceback only with -v
            verbose = bool(ctx.obj and getattr(ctx.obj, "verbose", False))
            log.error("unexpected failure", exc_info=verbose)
            click.echo(
                f"error: unexpected failure ({type(exc).__name__}: {exc}); rerun with -v for details",
                err=True,
            )
            ctx.exit(1)


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
            from pathlib import Path

            from tracker.config import resolve_db_url

            config = config.with_database(resolve_db_url(db_url, Path.cwd()))
    except TrackerError as exc:
        click.echo(f"error: {exc}", err=True)
        ctx.exit(exc.exit_code)
    ctx.obj = AppContext(config=config, verbose=verbose)



@main.command()
@click.option("--sample", type=click.Path(dir_okay=False),
              help="A sample calendar (TOML) to load when the database has no events yet.")
@click.pass_obj
def init(app: AppContext, sample: str | None) -> None:
    """Create or upgrade the database schema (safe to run again; keeps every row).

    Example: tracker init --sample examples/cop12.toml
    """
    from pathlib import Path

    from tracker.links import host_of
    from tracker.sample import is_empty, load_sample
    from tracker.store import current_revision, migrate, session_scope
    from tracker.timeparse import utc_now

    migrate(app.db_url)
    click.echo(f"database ready: {_shown_url(app.db_url)} (schema {current_revision(app.db_url)})")
    if sample:
        with session_scope(app.db_url) as session:
            if not is_empty(session):
                click.echo("sample not loaded: the database already has events")
                return
            counts = load_sample(session, Path(sample), default_tz=app.tz,
                                 host=host_of(app.config.tracker.base_url), now=utc_now())
        click.echo(f"loaded sample {Path(sample).name}: {counts[0]} events, {counts[1]} deadlines, "
                   f"{counts[2]} members")


def _shown_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


# --- commands from other modules register here -------------------------------------------
from tracker.cli_members import member  # noqa: E402
from tracker.cli_records import deadline, event  # noqa: E402

main.add_command(event)
main.add_command(deadline)
main.add_command(member)
from tracker.cli_feeds import import_group, publish, serve  # noqa: E402

main.add_command(publish)
main.add_command(serve)
main.add_command(import_group)
from tracker.cli_remind import remind  # noqa: E402

main.add_command(remind)
