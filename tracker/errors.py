"""The one family of errors every door (CLI, CSV, ICS, sample file, web form) turns into a message.

Services name the *field* in their own words (`due`, `start`, `tz`, `email`); each door says
where the value came from (`--due`, `members.csv line 5`, `export.ics: VEVENT <UID>`) by
relabelling the field and adding `where`, so the same check reads right at every door.
"""

from __future__ import annotations

import copy
import unicodedata

# What reading one stored row can raise when the row holds a value no door lets in today (a
# year-9999 instant that overflows in local time, a zone name tzdata lacks, text an older
# version wrote): readers catch these per row, report the row and go on with the others.
ROW_ERRORS: tuple[type[Exception], ...] = (ArithmeticError, ValueError, LookupError, TypeError)


def printable(text: str) -> str:
    """`text` with control characters, CR/LF and other invisible code points escaped
    (`\\x07`, `\\n`), so a message echoing input cannot ring the terminal, colour it, or forge
    a second log line."""
    return "".join(
        c if c == " " or unicodedata.category(c)[0] != "C"
        else c.encode("unicode_escape", "backslashreplace").decode("ascii")
        for c in text
    )


class TrackerError(Exception):
    """Bad input: exit status 2, one line naming where, the field, and what is accepted."""

    exit_code = 2

    def __init__(self, field: str, message: str, where: str = "") -> None:
        super().__init__(field, message, where)
        self.field = field
        self.message = message
        self.where = where

    def __str__(self) -> str:
        prefix = f"{self.where}: " if self.where else ""
        return f"{prefix}{self.field}: {self.message}"

    def lines(self) -> list[str]:
        """What a door prints: one line (ManyErrors: a summary, then one line per problem)."""
        return [str(self)]

    def at(self, where: str, field: str | None = None) -> TrackerError:
        """The same error (same class) located in `where` (may be ""), its field renamed if given.

        A `where` already set (an inner door) stays after the new one: "file: item: field".
        """
        located = copy.copy(self)
        located.where = ": ".join(part for part in (where, self.where) if part)
        if field is not None:
            located.field = field
        located.args = (located.field, located.message, located.where)
        return located


class ManyErrors(TrackerError):
    """Several bad rows of one file, reported together so they can be fixed in one go."""

    def __init__(self, where: str, errors: list[TrackerError], more: bool = False) -> None:
        shown = "first 20 of more" if more else str(len(errors))
        super().__init__("rows", f"{shown} rows have errors; nothing imported", where)
        self.errors = errors

    def lines(self) -> list[str]:
        return [str(self), *(f"  {e}" for e in self.errors)]


class NotFound(TrackerError):
    """An id, e-mail or token that names nothing."""


class Conflict(TrackerError):
    """A duplicate id or e-mail."""


class ConfigError(TrackerError):
    """A config file with an unknown key or a bad value."""


class OperationalError(TrackerError):
    """The database, the mail server or the disk failed: exit status 1."""

    exit_code = 1
