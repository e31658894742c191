"""Members: add, import from CSV, edit, remove, rotate tokens. No printing here."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from tracker import timeparse as tp
from tracker.config import KINDS
from tracker.errors import Conflict, ManyErrors, TrackerError
from tracker.records.checks import (
    check_choice,
    check_email,
    check_tags,
    check_text,
    new_token,
    shown,
)
from tracker.records.lookup import get_member
from tracker.records.models import Member

CSV_COLUMNS = ("email", "name", "organisation", "tz", "series", "remind")
MATERIAL = ("name", "organisation", "tz", "series", "kinds", "remind", "active", "mail")


@dataclass
class MemberInput:
    """Raw values; None means 'not given'. `remind` 'default' clears a member's own offsets."""

    name: str | None = None
    organisation: str | None = None
    tz: str | None = None
    series: list[str] | None = None
    kinds: list[str] | None = None
    remind: str | None = None
    active: bool | None = None  # both membership and mail, unless `mail` is given too
    mail: bool | None = None  # reminder e-mail only; the private feed follows `active`


@dataclass(frozen=True)
class ImportReport:
    added: int
    updated: int
    unchanged: int


def _clean(values: MemberInput) -> dict[str, object]:
    """Checked values for the fields that were given."""
    out: dict[str, object] = {}
    if values.name is not None:
        out["name"] = check_text(values.name, "name", single_line=True)
    if values.organisation is not None:
        out["organisation"] = check_text(values.organisation, "organisation", single_line=True)
    if values.tz is not None:
        out["tz"] = tp.parse_zone(values.tz, "tz").key
    if values.series is not None:
        out["series"] = check_tags(values.series, "series")
    if values.kinds is not None:
        out["kinds"] = [check_choice(k, KINDS, "kind") for k in values.kinds]
    if values.remind is not None:
        text = values.remind.strip()
        out["remind"] = (None if text.lower() in ("", "default")
                         else tp.format_offsets(tp.parse_offsets(text, "remind")))
    if values.active is not None:
        out["active"] = values.active
        out["mail"] = values.active
    if values.mail is not None:
        out["mail"] = values.mail
    return out


def add_member(
    session: Session, email: str, values: MemberInput, *, default_tz: str, now: datetime
) -> Member:
    address = check_email(email)
    if session.scalar(select(Member.id).where(Member.email == address)) is not None:
        raise Conflict("email", f"'{address}' is already a member")
    member = Member(**_new_row(address, _clean(values), default_tz, now))
    session.add(member)
    session.flush()
    return member


def edit_member(
    session: Session, email: str, values: MemberInput, *, now: datetime, rotate_token: bool = False
) -> list[str]:
    """Apply the given values; `rotate_token` replaces the private feed URL. Returns changes."""
    member = get_member(session, email)
    changed = _update(member, _clean(values), now)
    if rotate_token:
        member.feed_token = new_token()
        member.modified_at = now
        changed.append("feed_token")
    return changed


def _update(member: Member, fields: dict[str, object], now: datetime) -> list[str]:
    changed = [k for k, v in fields.items() if getattr(member, k) != v]
    for key in changed:
        setattr(member, key, fields[key])
    if changed:
        member.modified_at = now
    return changed


def remove_member(session: Session, email: str) -> Member:
    member = get_member(session, email)
    session.delete(member)
    session.flush()
    return member


def list_members(session: Session, *, include_inactive: bool = True) -> list[Member]:
    query = select(Member).order_by(Member.email)
    if not include_inactive:
        query = query.where(Member.active.is_(True))
    return list(session.scalars(query))


MAX_REPORTED = 20  # bad rows listed at once


Fields = dict[str, object]  # checked values of the fields a row gives (`_clean`)
Progress = Callable[[int, int], None]  # (done, total), for a progress bar


def parse_member_csv(text: str, source: str = "members.csv", progress: Progress | None = None,
                     ) -> list[tuple[int, str, Fields]]:
    """Check every row of a member CSV before anything is written; errors name file and line.

    Returns (line, e-mail, checked fields) per row. The columns are the fields' own names, so an
    error reads `members.csv line 5: tz: ...`. Every bad row is reported at once (up to
    MAX_REPORTED), so one edit fixes the file; a file the csv module cannot read (an
    unterminated quote, a field over its limit) is refused. `progress` gets (lines read,
    lines in the text) every IMPORT_BATCH rows.
    """
    lines = _line_count(text)
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")), strict=True)
    try:
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
    except csv.Error as exc:
        raise _csv_error(exc, source, reader.line_num) from None
    if "email" not in header or any(h not in CSV_COLUMNS for h in header):
        raise TrackerError(
            "header",
            f"must be {','.join(CSV_COLUMNS)} (email required; got "
            f"{shown(','.join(header), 120)})",
            where=f"{source} line 1",
        )
    twice = sorted({h for h in header if header.count(h) > 1})
    if twice:
        raise TrackerError("header", f"names {', '.join(twice)} twice; name each column once",
                           where=f"{source} line 1")
    reader.fieldnames = header
    rows: list[tuple[int, str, Fields]] = []
    errors: list[TrackerError] = []
    seen: dict[str, int] = {}
    while True:
        start = reader.line_num + 1  # where the record that may fail begins
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise _csv_error(exc, source, start) from None
        line = reader.line_num
        where = f"{source} line {line}"
        try:
            parsed = _member_row(row, len(header), line, seen)
        except TrackerError as exc:
            errors.append(exc.at(where))
            if len(errors) > MAX_REPORTED:
                raise ManyErrors(source, errors[:MAX_REPORTED], more=True) from None
            continue
        if parsed is not None:
            rows.append(parsed)
            if progress is not None and len(rows) % IMPORT_BATCH == 0:
                progress(min(line, lines), lines)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise ManyErrors(source, errors)
    if progress is not None:
        progress(lines, lines)
    return rows


def _member_row(row: dict[str | None, object], columns: int, line: int,
                seen: dict[str, int]) -> tuple[int, str, Fields] | None:
    if None in row:
        raise TrackerError("columns", f"more than the {columns} of the header")
    cells = {str(k): str(v or "").strip() for k, v in row.items()}
    if not any(cells.values()):
        return None
    email = check_email(cells.get("email", ""), "email")
    values = MemberInput(
        name=cells.get("name", ""), organisation=cells.get("organisation", ""),
        tz=cells.get("tz") or None, series=[cells.get("series", "")],
        remind=cells.get("remind", ""),
    )
    fields = _clean(values)
    if email in seen:
        raise TrackerError("email", f"'{email}' appears again (first on line {seen[email]})")
    seen[email] = line
    return line, email, fields


def _csv_error(exc: csv.Error, source: str, line: int) -> TrackerError:
    text = str(exc)
    if "field larger than field limit" in text:
        why = f"a field is longer than {csv.field_size_limit():,} characters"
    elif "unexpected end of data" in text or "EOF" in text or "quote" in text:
        why = "a quote is opened and never closed (or a quote sits inside an unquoted field)"
    else:
        why = f"is not readable CSV ({text})"
    return TrackerError("csv", why, where=f"{source} line {line}")


IMPORT_BATCH = 1000  # rows per INSERT executemany / per e-mail lookup: bounded SQL and memory
# The Core table, not the ORM entity: the ORM's bulk insert leaves out None values, so rows
# with and without `remind` would split each batch into many small statements.
MEMBERS = cast(Table, Member.__table__)


def import_members(
    session: Session, text: str, *, default_tz: str, now: datetime, source: str = "members.csv",
    progress: Progress | None = None,
) -> ImportReport:
    """Add or update members from CSV text in one go: a bad row means nothing is written.

    Every row is checked first (nothing is written, and no write lock taken, for a bad file),
    once: the checked values are what gets stored. Existing e-mails are updated through the ORM
    (few, and `modified_at` moves only on a real change); new ones are inserted in batches with
    one Core INSERT executemany each, inside the caller's transaction: 100,000 ORM objects cost
    seconds and hundreds of MB to flush. `progress` gets (done, total) as the check and then the
    write pass advance, one half of `total` each.
    """
    half = _line_count(text)  # the check pass's unit
    rows = parse_member_csv(text, source, None if progress is None
                            else lambda done, total: progress(done, 2 * total))
    added = updated = unchanged = 0
    for start in range(0, len(rows), IMPORT_BATCH):
        chunk = rows[start:start + IMPORT_BATCH]
        existing = {m.email: m for m in session.scalars(
            select(Member).where(Member.email.in_([email for _, email, _ in chunk])))}
        batch: list[dict[str, object]] = []
        for _line, email, fields in chunk:
            member = existing.get(email)
            if member is None:
                batch.append(_new_row(email, fields, default_tz, now))
            elif _update(member, fields, now):
                updated += 1
            else:
                unchanged += 1
        if batch:
            session.execute(insert(MEMBERS), batch)
            added += len(batch)
        if progress is not None:
            progress(half + half * (start + len(chunk)) // len(rows), 2 * half)
    if progress is not None:
        progress(2 * half, 2 * half)
    return ImportReport(added, updated, unchanged)


def _line_count(text: str) -> int:
    return text.count("\n") + (not text.endswith("\n"))


def _new_row(email: str, fields: Fields, default_tz: str, now: datetime) -> dict[str, object]:
    """The column values of a new member (fresh tokens) from checked fields, for `add_member`
    and the bulk import."""
    row: dict[str, object] = {"name": "", "organisation": "", "tz": default_tz, "series": [],
                              "kinds": [], "remind": None, "active": True, "mail": True}
    row.update(fields)
    return {"email": email, "feed_token": new_token(), "unsubscribe_token": new_token(),
            "created_at": now, "modified_at": now, **row}
