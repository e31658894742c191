"""`tracker backup`, `tracker export --json`, `tracker import json`: keeping the data."""

from __future__ import annotations

import json
from pathlib import Path

import click

from tracker.cli.context import AppContext, TrackerCommand
from tracker.db.backup import backup_sqlite
from tracker.db.engine import session_scope
from tracker.errors import TrackerError
from tracker.records.export import export_data, import_data
from tracker.timeparse import utc_now


@click.command(cls=TrackerCommand)
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_obj
def backup(app: AppContext, file: Path) -> None:
    """Copy the SQLite database into FILE, consistently, even while the scheduler runs.

    On PostgreSQL use pg_dump. FILE must not exist yet.

    Example: tracker backup backups/tracker-2027-01-13.db
    """
    url = app.config.database_url
    # SQLite: the file must hold our schema; another database gets the pg_dump advice first.
    size = backup_sqlite(app.db_url if url.startswith("sqlite") else url, file)
    click.echo(f"backed up to {file} ({size} bytes)")


@click.command("export", cls=TrackerCommand)
@click.option("--json", "as_json", is_flag=True, required=True,
              help="JSON: every event, deadline and member (the only format so far).")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path),
              help="File to write (default: stdout). It holds members' secret feed tokens.")
@click.pass_obj
def export(app: AppContext, as_json: bool, out: Path | None) -> None:
    """Write every event, deadline and member as JSON that `tracker import json` reads back.

    Example: tracker export --json --out tracker-export.json
    """
    with session_scope(app.db_url) as session:
        data = export_data(session, utc_now())
    text = json.dumps(data, ensure_ascii=False, indent=1) + "\n"
    if out is None:
        click.echo(text, nl=False)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise TrackerError("--out", f"cannot write {out}: {exc.strerror}") from None
    click.echo(f"exported to {out}", err=True)


def restore_json(app: AppContext, file: Path) -> None:
    """`tracker import json FILE` (registered in the import group of tracker.cli.feeds)."""
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TrackerError("FILE", f"cannot read {file}: {exc.strerror}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise TrackerError("FILE", f"{file} is not JSON ({exc})") from None
    with session_scope(app.db_url) as session:
        counts = import_data(session, data)
    click.echo(", ".join(f"{n} {name.replace('_', ' ')}" for name, n in counts.items())
               + " imported")
