"""`tracker publish`, `tracker serve`, `tracker import ics`: parse, call one function, print."""

from __future__ import annotations

from pathlib import Path

import click

from tracker.cli.context import AppContext, TrackerCommand, TrackerSubgroup
from tracker.cli.progress import progress_bar
from tracker.db.engine import session_scope
from tracker.errors import TrackerError, printable
from tracker.links import host_of
from tracker.records.checks import check_tags
from tracker.timeparse import utc_now


@click.command(cls=TrackerCommand)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write the .ics files to (default: [calendars] out_dir).")
@click.pass_obj
def publish(app: AppContext, out_dir: Path | None) -> None:
    """Write all.ics, deadlines.ics and one <series>.ics per tag; only changed files are replaced.

    Example: tracker publish --out /var/www/calendars
    """
    from tracker.scheduler.round import publish as run_publish

    result = run_publish(app.ready, utc_now(), out_dir)
    for f in result.files:
        state = "written" if f.changed else "unchanged"
        click.echo(f"{state:9}  {f.path}  ({f.items} items)")
    for uid, why in result.skipped:
        click.echo(printable(f"skipped    {uid}: cannot be rendered ({why})"))
    click.echo(
        f"{len(result.written)} written, {len(result.unchanged)} unchanged, "
        f"{result.rendered} items rendered anew"
        + (f", {len(result.skipped)} skipped" if result.skipped else "")
    )


@click.command(cls=TrackerCommand)
@click.option("--host", help="Address to listen on (default: [serve] host).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default: [serve] port).")
@click.pass_obj
def serve(app: AppContext, host: str | None, port: int | None) -> None:
    """Serve the published feeds and members' private feeds over HTTP until Ctrl-C.

    Example: tracker serve --host 127.0.0.1 --port 8080
    """
    from tracker.web.app import run

    run(app.ready, host or app.config.serve.host, port or app.config.serve.port)


@click.group("import", cls=TrackerSubgroup)
def import_group() -> None:
    """Import items from other systems."""


@import_group.command("json")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_obj
def import_json(app: AppContext, file: Path) -> None:
    """Restore a `tracker export --json` file into an empty database.

    Same ids, UIDs and SEQUENCEs; nothing is written unless the whole file is good.

    Example: tracker import json tracker-export.json
    """
    from tracker.cli.data import restore_json

    restore_json(app, file)


@import_group.command("ics")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--series", "series", multiple=True,
              help="Series tag to give every imported item, repeatable.")
@click.option("--max-size", "max_size", type=click.IntRange(1, 1024), default=20,
              show_default=True, help="Refuse files larger than this many MB.")
@click.pass_obj
def import_ics(app: AppContext, file: Path, series: tuple[str, ...], max_size: int) -> None:
    """Import the VEVENTs of an .ics file, keeping UIDs and zones; re-import updates.

    Example: tracker import ics cop12-export.ics --series untoc-cop
    """
    from tracker.ics.apply import import_ics

    limit = max_size * 1024 * 1024
    try:
        with file.open("rb") as fh:  # read at most the limit: a huge file is never loaded
            data = fh.read(limit + 1)
    except OSError as exc:
        raise TrackerError("FILE", f"cannot read {file}: {exc.strerror}") from None
    if len(data) > limit:
        raise TrackerError("FILE", f"{file} is larger than --max-size {max_size} MB; split it "
                                   "or give a larger --max-size")
    tags, host, now = check_tags(series), host_of(app.base_url), utc_now()
    with session_scope(app.db_url) as session, progress_bar() as progress:
        report = import_ics(session, data, str(file), default_tz=app.tz, series=tags,
                            host=host, now=now, progress=progress)
    for line in report.notes:
        click.echo(line, err=True)
    click.echo(
        f"{report.added} added, {report.updated} updated, {report.unchanged} unchanged, "
        f"{report.skipped} skipped"
    )
