"""`tracker extract FILE`: propose events and deadlines from minutes, review them, record some."""

from __future__ import annotations

import json
from pathlib import Path

import click
from sqlalchemy.orm import Session

from tracker.cli.context import AppContext, TrackerCommand
from tracker.db.engine import get_engine, session_scope
from tracker.errors import TrackerError
from tracker.extract.apply import Edits, mark_recorded, proposal_dict, record
from tracker.extract.propose import Proposal, extract
from tracker.extract.text import document_lines
from tracker.links import host_of
from tracker.timeparse import utc_now


@click.command("extract", cls=TrackerCommand)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--year", type=int, help="Year of dates written without one (default: the year "
              "of the meeting date at the top of the document).")
@click.option("--tz", help="IANA zone of the times in the document (default: the configured "
              "zone). 'GMT+1'/'GMT+2' in the text are checked against it, never used as zones.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the proposals as one JSON list and write nothing (unless --accept-all).")
@click.option("--accept-all", is_flag=True,
              help="Record every proposal not already recorded, without asking (for scripts).")
@click.pass_obj
def extract_command(app: AppContext, file: Path, year: int | None, tz: str | None,
                    as_json: bool, accept_all: bool) -> None:
    """Propose the events and deadlines in meeting minutes (.txt, .html, .docx); review, record.

    Each proposal is shown with the sentence and line it came from; answer a(ccept), e(dit) or
    s(kip). Accepted ones are recorded as `event add` / `deadline add` would record them; one
    equal to an item already recorded is marked so and not added again. Nothing is written until
    the review ends, and nothing at all if it is interrupted.

    Example: tracker extract minutes-2024-09.txt --year 2024 --json
    """
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise TrackerError("FILE", f"cannot read {file}: {exc.strerror}") from None
    zone = tz or app.tz
    found = extract(document_lines(data, file.name), tz=zone, year=year)
    now, host = utc_now(), host_of(app.base_url)
    with session_scope(app.db_url) as session:
        mark_recorded(session, found.proposals, now=now)
    fresh = [p for p in found.proposals if p.recorded is None]
    if as_json and not accept_all:
        click.echo(json.dumps([proposal_dict(p) for p in found.proposals], indent=2,
                              ensure_ascii=False))
        return
    if accept_all:
        chosen: list[tuple[Proposal, Edits | None]] = [(p, None) for p in fresh]
    else:
        _header(file, found.reference, zone, len(found.proposals))
        chosen = _review(app, found.proposals)
    added = _record_all(app, chosen, file, host)
    if as_json:
        rows = [proposal_dict(p) | {"added": added.get(id(p))} for p in found.proposals]
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    for proposal, _ in chosen:
        click.echo(f"added {'event' if _is_event(proposal, chosen) else 'deadline'} "
                   f"{added[id(proposal)]}: line {proposal.line}")
    recorded = len(found.proposals) - len(fresh)
    skipped = len(fresh) - len(chosen)
    click.echo(f"{len(chosen)} added, {skipped} skipped, {recorded} already recorded")


def _is_event(proposal: Proposal, chosen: list[tuple[Proposal, Edits | None]]) -> bool:
    edits = dict((id(p), e) for p, e in chosen).get(id(proposal))
    return (edits.kind if edits and edits.kind else proposal.kind) == "event"


def _header(file: Path, reference: object, zone: str, count: int) -> None:
    dated = f"meeting date {reference}" if reference else "no dated heading"
    click.echo(f"{file.name}: {count} proposals ({dated}; times in {zone})")


def _record_all(
    app: AppContext, chosen: list[tuple[Proposal, Edits | None]], file: Path, host: str
) -> dict[int, str]:
    """Record the accepted proposals in one transaction: all of them, or (on an error) none."""
    added: dict[int, str] = {}
    now = utc_now()
    with session_scope(app.db_url) as session:
        for proposal, edits in chosen:
            try:
                item = record(session, proposal, edits, default_tz=app.tz, host=host, now=now)
            except TrackerError as exc:
                raise exc.at(f"{file.name} line {proposal.line}") from None
            added[id(proposal)] = item.id
    return added


def _review(app: AppContext, proposals: list[Proposal]) -> list[tuple[Proposal, Edits | None]]:
    chosen: list[tuple[Proposal, Edits | None]] = []
    for number, proposal in enumerate(proposals, start=1):
        click.echo("")
        click.echo(_describe(proposal, number, len(proposals)))
        if proposal.recorded:
            click.echo(f"  already recorded as {proposal.recorded}: not added again")
            continue
        edits: Edits | None = None
        while True:
            answer = click.prompt("  accept, edit or skip?", default="a",
                                  type=click.Choice(["a", "e", "s"]), show_choices=True)
            if answer == "s":
                break
            if answer == "e":
                edits = _ask_edits(proposal)
            problem = _check(app, proposal, edits)
            if problem is None:
                chosen.append((proposal, edits))
                break
            click.echo(f"  error: {problem}", err=True)
    return chosen


def _check(app: AppContext, proposal: Proposal, edits: Edits | None) -> str | None:
    """Run the record services' checks in a transaction that is rolled back: None when fine."""
    with Session(get_engine(app.db_url)) as session:  # closing rolls back: nothing is written
        try:
            record(session, proposal, edits, default_tz=app.tz,
                   host=host_of(app.base_url), now=utc_now())
        except TrackerError as exc:
            return str(exc)
        finally:
            session.rollback()
    return None


def _ask_edits(proposal: Proposal) -> Edits:
    kind = click.prompt("  kind", default=proposal.kind).strip().lower()
    is_event = kind == "event"
    title = click.prompt("  title", default=proposal.title)
    main, other = (proposal.start, proposal.end) if proposal.is_event else (
        proposal.due, proposal.opens)
    assert main is not None
    main_text = click.prompt("  start" if is_event else "  due", default=main.when())
    other_text = click.prompt("  end" if is_event else "  opens ('-' for none)",
                              default=other.when() if other else "-")
    zone = click.prompt("  zone", default=proposal.tz)
    event = "" if is_event else click.prompt("  event id ('-' for none)", default="-")
    return Edits(title=title, kind=kind, main=main_text,
                 other="" if other_text.strip() == "-" else other_text, tz=zone,
                 event=None if event.strip() in ("", "-") else event.strip())


def _describe(proposal: Proposal, number: int, total: int) -> str:
    data = proposal_dict(proposal)
    what = "event" if proposal.is_event else f"deadline ({proposal.kind})"
    lines = [f"[{number}/{total}] {what}: {proposal.title}"]
    if proposal.is_event:
        span = f"{data['start']}" + (f" to {data['end']}" if data["end"] else "")
        lines.append(f"  when:  {span} ({proposal.tz})")
    else:
        opens = f"opens {data['opens']}, " if data["opens"] else ""
        lines.append(f"  when:  {opens}due {data['due']} ({proposal.tz})")
    lines.append(f"  from:  line {proposal.line}: {proposal.sentence}")
    lines.extend(f"  note:  {note}" for note in proposal.notes)
    return "\n".join(lines)
