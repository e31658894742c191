"""The one family of errors the CLI turns into a single line on stderr."""

from __future__ import annotations


class TrackerError(Exception):
    """Bad input from the secretary: exit status 2, one line naming the field."""

    exit_code = 2

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class NotFound(TrackerError):
    """An id, e-mail or token that names nothing."""


class Conflict(TrackerError):
    """A duplicate id or e-mail."""


class ConfigError(TrackerError):
    """A config file with an unknown key or a bad value."""


class OperationalError(TrackerError):
    """The database, the mail server or the disk failed: exit status 1."""

    exit_code = 1
