"""What every command shares: the app context, the one error funnel, and JSON/text output.

Every command runs through `TrackerGroup.invoke`, the one error funnel: a TrackerError becomes
one line on stderr and exit status 2 (bad input) or 1 (operational failure); anything else
becomes one line that says to rerun with -v, and -v shows the traceback.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import click

from tracker.config import Config
from tracker.db.engine import require_schema
from tracker.errors import Conflict, NotFound, TrackerError, printable

log = logging.getLogger("tracker.cli")


@dataclass
class AppContext:
    """What every command needs: the validated config (with --db applied)."""

    config: Config
    verbose: bool = False
    schema_checked: bool = False

    @property
    def db_url(self) -> str:
        """The database URL, once it is known to have a schema (`tracker init` made it)."""
        url = self.config.database_url
        if not self.schema_checked:
            require_schema(url)
            self.schema_checked = True
        return url

    @property
    def ready(self) -> Config:
        """The config, for services that open their own sessions: checked like `db_url`."""
        _ = self.db_url
        return self.config

    @property
    def tz(self) -> str:
        return self.config.tracker.timezone

    @property
    def base_url(self) -> str:
        return self.config.tracker.base_url


# What to do next, added to a service's message at this door (a web form would say otherwise).
HINTS: dict[tuple[type[TrackerError], str], str] = {
    (NotFound, "event"): "see `tracker event list`",
    (NotFound, "deadline"): "see `tracker deadline list`",
    (NotFound, "email"): "see `tracker member list`",
    (Conflict, "email"): "use `tracker member edit`",
}


def in_cli_words(exc: TrackerError, command: click.Command) -> TrackerError:
    """The error with its field named as this command spells it: `due` -> `--due`.

    A field matches the parameter of the same name (`all_day` -> `--all-day`), an option
    spelled `--<field>` (`id` -> `--id`), or the argument `<field>_id` (`event` -> `ID`).
    Arguments show their metavar (`TITLE`, `EMAIL`). Errors that already say where they come
    from (a line of a CSV file, an item of a sample or .ics file) keep their own words.
    """
    if exc.where:
        return exc
    flag = f"--{exc.field.replace('_', '-')}"
    word = None
    for param in command.params:
        if param.name in (exc.field, f"{exc.field}_id") or flag in param.opts:
            if isinstance(param, click.Argument):
                word = param.metavar or (param.name or exc.field).upper()
            else:
                word = max(param.opts, key=len)
            if param.name == exc.field:
                break
    relabelled = exc.at("", word) if word is not None else exc
    hint = HINTS.get((type(exc), exc.field))
    if hint is not None:
        relabelled.message = f"{relabelled.message}; {hint}"
    return relabelled


class TrackerCommand(click.Command):
    """A command whose errors name its own options and arguments (see `in_cli_words`)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TrackerError as exc:
            raise in_cli_words(exc, self) from exc


class TrackerSubgroup(click.Group):
    """A group of commands (`tracker event ...`) made as TrackerCommands."""

    command_class = TrackerCommand


class TrackerGroup(click.Group):
    """A click group whose invoke is the single place errors are turned into messages."""

    command_class = TrackerCommand
    group_class = TrackerSubgroup

    def main(
        self, args: Sequence[str] | None = None, prog_name: str | None = None,
        complete_var: str | None = None, standalone_mode: bool = True, **extra: Any,
    ) -> Any:
        """Usage errors too become one line (click's own are four) and exit status 2."""
        for n, arg in enumerate(sys.argv[1:] if args is None else args, start=1):
            try:
                arg.encode("utf-8")
            except UnicodeEncodeError:  # bytes the locale could not decode (surrogateescape)
                click.echo(printable(f"error: argument {n} ({arg!r}) is not valid UTF-8 text"),
                           err=True)
                if standalone_mode:
                    sys.exit(2)
                return 2
        try:
            result = super().main(args, prog_name, complete_var, False, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:
            click.echo(exc.ctx.get_help() if exc.ctx else "tracker --help")
            result = 0
        except click.UsageError as exc:
            where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
            click.echo(printable(f"error: {exc.format_message()}{where}"), err=True)
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
            for i, line in enumerate(exc.lines()):  # each line escaped on its own
                click.echo(printable(f"error: {line}" if i == 0 else line), err=True)
            ctx.exit(exc.exit_code)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except Exception as exc:  # the last resort: one line, traceback only with -v
            verbose = bool(ctx.obj and getattr(ctx.obj, "verbose", False))
            log.error("unexpected failure", exc_info=verbose)
            # One line, short: a database error's text holds the whole statement and its
            # parameters (members' data), which belong in the -v traceback only.
            text = str(getattr(exc, "orig", None) or exc).strip()
            detail = (text.splitlines() or [""])[0][:300]
            click.echo(printable(
                f"error: unexpected failure ({type(exc).__name__}: {detail}); rerun with -v "
                "for details"
            ), err=True)
            ctx.exit(1)


def emit(data: Any, as_json: bool, text: str) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False) if as_json else text)


def changed_line(what: str, ident: str, changed: list[str], sequence: int) -> str:
    if not changed:
        return f"{what} {ident}: nothing changed"
    return f"{what} {ident}: changed {', '.join(changed)} (sequence {sequence})"
