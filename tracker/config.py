"""config.toml -> frozen dataclasses, validated once at start-up.

Lookup order: an explicit path, else $TRACKER_CONFIG, else ./config.toml when it exists, else
built-in defaults equal to the shipped config.toml. Relative paths (the SQLite file, the
calendars, outbox and e-mail template folders) are relative to the config file's folder.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
import unicodedata
from dataclasses import dataclass, field
from email.utils import parseaddr
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tracker.errors import ConfigError, printable
from tracker.timeparse import parse_offsets, parse_zone

KINDS = (
    "registration",
    "speakers-list",
    "ground-pass",
    "application",
    "submission",
    "nomination",
    "payment",
    "other",
)


_ADDRESS = re.compile(r"^[^@\s<>]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")


@dataclass(frozen=True)
class TrackerSection:
    timezone: str = "Europe/Vienna"
    database: str = "sqlite:///tracker.db"
    base_url: str = "http://localhost:8080/"


@dataclass(frozen=True)
class CalendarsSection:
    out_dir: str = "calendars"
    name: str = "Alliance events and deadlines"
    refresh: str = "PT1H"
    cancelled_days: int = 60


@dataclass(frozen=True)
class RemindersSection:
    offsets: tuple[str, ...] = ("14d", "3d", "1d")
    local_hour: int = 9
    quiet_minutes: int = 10
    kinds: dict[str, tuple[str, ...]] = field(
        default_factory=lambda: {"speakers-list": ("7d", "1d", "2h"), "ground-pass": ("3d", "1d")}
    )


@dataclass(frozen=True)
class MailSection:
    backend: str = "outbox"
    outbox_dir: str = "outbox"
    sender: str = "Alliance Secretariat <secretariat@example.org>"
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_security: str = "none"
    smtp_user: str = ""
    smtp_password_env: str = "TRACKER_SMTP_PASSWORD"
    batch_size: int = 100  # rows one scheduler claims at a time
    lease_seconds: int = 300  # a claim not marked by then is taken up again
    retry_seconds: int = 30  # first backoff after a temporary failure; doubles, at most 1 h
    timeout: int = 60  # overall seconds for one SMTP connection set-up, and for one message
    templates: str = "templates/emails"  # missing at the default path: the packaged copy
    helo: str = ""  # the name we greet the SMTP server with; empty: the host of base_url
    dkim_key: str = ""  # PEM private key file; empty: no DKIM signature
    dkim_selector: str = ""  # DNS selector of that key (<selector>._domainkey.<sender domain>)


@dataclass(frozen=True)
class ServeSection:
    host: str = "127.0.0.1"
    port: int = 8080
    # The key that signs the members' page forms (CSRF tokens); created with mode 0600 on first
    # use and kept, so forms a member opened before a restart still submit.
    secret_file: str = "tracker.secret"


@dataclass(frozen=True)
class Config:
    tracker: TrackerSection = field(default_factory=TrackerSection)
    calendars: CalendarsSection = field(default_factory=CalendarsSection)
    reminders: RemindersSection = field(default_factory=RemindersSection)
    mail: MailSection = field(default_factory=MailSection)
    serve: ServeSection = field(default_factory=ServeSection)
    base_dir: Path = field(default_factory=Path.cwd)
    source: Path | None = None

    @property
    def database_url(self) -> str:
        return resolve_db_url(self.tracker.database, self.base_dir)

    @property
    def calendars_dir(self) -> Path:
        return self.base_dir / self.calendars.out_dir

    @property
    def outbox_dir(self) -> Path:
        return self.base_dir / self.mail.outbox_dir

    @property
    def helo_name(self) -> str:
        """`[mail] helo`, else the host of base_url (a real name, not [127.0.0.1])."""
        return self.mail.helo or urlsplit(self.tracker.base_url).hostname or "localhost"

    @property
    def dkim_key_path(self) -> Path | None:
        return self.base_dir / self.mail.dkim_key if self.mail.dkim_key else None

    @property
    def secret_path(self) -> Path:
        return self.base_dir / self.serve.secret_file

    @property
    def templates_dir(self) -> Path:
        """The e-mail templates: `[mail] templates` when that folder exists, else the copy
        inside the installed package (an installed tracker runs outside any checkout).
        An explicit folder that does not exist was refused when the config was loaded."""
        configured = self.base_dir / self.mail.templates
        return configured if configured.is_dir() else packaged_templates()

    def with_database(self, url: str) -> Config:
        """Return a copy whose database is `url` (the --db option)."""
        return dataclasses.replace(
            self, tracker=dataclasses.replace(self.tracker, database=url)
        )


# The accepted range of every whole-number key (documented in config.toml and the README):
# values outside break later (a batch of 10^20 fails every round; a backoff of 2^63 seconds
# overflows and leaves rows claimed), so they are refused when the config is loaded.
RANGES: dict[tuple[str, str], tuple[int, int]] = {
    ("calendars", "cancelled_days"): (0, 3650),
    ("reminders", "local_hour"): (0, 23),
    ("reminders", "quiet_minutes"): (0, 1440),
    ("mail", "smtp_port"): (1, 65535),
    ("mail", "batch_size"): (1, 10_000),
    ("mail", "lease_seconds"): (1, 86_400),
    ("mail", "retry_seconds"): (1, 86_400),
    ("mail", "timeout"): (1, 3600),
    ("serve", "port"): (1, 65535),
}

SECTIONS = {
    "tracker": TrackerSection,
    "calendars": CalendarsSection,
    "reminders": RemindersSection,
    "mail": MailSection,
    "serve": ServeSection,
}


def packaged_templates(folder: str = "emails") -> Path:
    """The templates the wheel carries (`tracker/_templates/<folder>`, copied there from the
    root `templates/<folder>/` by setup.py: `emails` and `web`), else, in a checkout or
    editable install where no copy is made, that root folder itself."""
    packaged = resources.files("tracker").joinpath("_templates", folder)
    if isinstance(packaged, Path) and packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[1] / "templates" / folder


def resolve_db_url(url: str, base_dir: Path) -> str:
    """Make a relative SQLite path relative to the config file, not the working directory."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/"):
        rest = url[len(prefix):]
        if rest and rest != ":memory:":
            return prefix + str((base_dir / rest).resolve())
    return url


def find_config_path(explicit: str | os.PathLike[str] | None) -> Path | None:
    if explicit:
        return Path(explicit)
    env = os.environ.get("TRACKER_CONFIG")
    if env:
        return Path(env)
    local = Path("config.toml")
    return local if local.exists() else None


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Load and validate the configuration; refuse unknown keys and bad values by name."""
    found = find_config_path(path)
    if found is None:
        return Config()
    if not found.is_file():
        raise ConfigError("config", f"no config file at {found}")
    try:
        raw = tomllib.loads(found.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(found), f"not valid TOML ({exc})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(str(found), f"is not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    except OSError as exc:
        raise ConfigError("config", f"cannot read {found}: {exc.strerror}") from None
    return build_config(raw, base_dir=found.resolve().parent, source=found)


def build_config(raw: dict[str, Any], base_dir: Path, source: Path | None = None) -> Config:
    sections: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in SECTIONS:
            raise ConfigError(f"[{name}]", f"unknown section; known: {', '.join(SECTIONS)}")
        if not isinstance(value, dict):
            raise ConfigError(f"[{name}]", "must be a table")
        sections[name] = _build_section(name, SECTIONS[name], value)
    config = Config(**sections, base_dir=base_dir, source=source)
    _validate(config)
    return config


def _build_section(name: str, cls: type, values: dict[str, Any]) -> Any:
    known = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        if key not in known:
            raise ConfigError(
                f"[{name}] {key}", f"unknown key; known keys: {', '.join(known)}"
            )
        kwargs[key] = _coerce(f"[{name}] {key}", getattr(cls(), key), value)
    return cls(**kwargs)


def _coerce(where: str, default: Any, value: Any) -> Any:
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(where, "must be true or false")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(where, "must be a whole number")
        return value
    if isinstance(default, str):
        if not isinstance(value, str):
            raise ConfigError(where, "must be a string in quotes")
        return value
    if isinstance(default, tuple):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(where, 'must be a list of strings, e.g. ["14d", "3d", "1d"]')
        return tuple(value)
    if isinstance(default, dict):
        if not isinstance(value, dict):
            raise ConfigError(where, "must be a table")
        return {k: _coerce(f"{where}.{k}", (), v) for k, v in value.items()}
    raise ConfigError(where, "unsupported value")  # pragma: no cover


def check_db_url(url: str, field: str = "[tracker] database") -> str:
    """An SQLAlchemy URL whose driver is installed; common slips get the URL to use instead."""
    if "://" not in url:
        hint = f"sqlite:///{url}" if url.strip() else "sqlite:///tracker.db"
        raise ConfigError(field, f"{shown(url)} is not a database URL; for a SQLite file "
                                 f"give {hint}")
    scheme = url.split("://", 1)[0]
    if scheme in ("postgres", "postgresql", "postgresql+psycopg2"):
        better = "postgresql+psycopg://" + url.split("://", 1)[1]
        raise ConfigError(field, f"use the psycopg 3 driver: {shown(_hide_password(better))}")
    try:
        from sqlalchemy.engine import make_url

        make_url(url).get_dialect().import_dbapi()  # the driver module itself, e.g. MySQLdb
    except Exception:
        raise ConfigError(
            field, f"'{scheme}://' is not a database tracker can use here (driver not "
            "installed); use sqlite:///FILE or postgresql+psycopg://USER@HOST/DB") from None
    return url


def _hide_password(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("://", 1)[0] + "://..."


def shown(value: str) -> str:
    """A value quoted for a message, with control characters and CR/LF escaped."""
    return f"'{printable(value[:200])}'"


def _validate(config: Config) -> None:
    t, c, r, m = config.tracker, config.calendars, config.reminders, config.mail
    _check(lambda: parse_zone(t.timezone), "[tracker] timezone")
    check_db_url(t.database)
    base = urlsplit(t.base_url)
    if base.scheme not in ("http", "https") or not base.hostname or any(
            unicodedata.category(ch) == "Cc" or ch.isspace() for ch in t.base_url):
        raise ConfigError("[tracker] base_url",
                          "must be an http:// or https:// address with a host, "
                          "e.g. https://calendars.example.org/")
    if not c.name.strip() or any(unicodedata.category(ch) == "Cc" for ch in c.name) \
            or len(c.name) > 200:
        raise ConfigError("[calendars] name", "must be one line of up to 200 characters "
                                              "without control characters")
    sender = parseaddr(m.sender)[1]
    if any(unicodedata.category(ch) == "Cc" for ch in m.sender) or not _ADDRESS.match(sender):
        raise ConfigError("[mail] sender", f"{shown(m.sender)} is not an address; give one like "
                                           '"Alliance Secretariat <secretariat@example.org>"')
    if not sender.isascii():  # mail headers and the SMTP envelope carry the address as ASCII
        raise ConfigError("[mail] sender", f"{shown(sender)} is not an ASCII address; the name "
                                           'may be any text, e.g. "Sécrétariat <secr@example.org>"')
    for (section, key), (lo, hi) in RANGES.items():
        value = getattr(getattr(config, section), key)
        if not lo <= value <= hi:
            raise ConfigError(f"[{section}] {key}", f"must be from {lo} to {hi}")
    if not (c.refresh.startswith("P") and len(c.refresh) > 2):
        raise ConfigError("[calendars] refresh", "must be an ISO 8601 duration such as PT1H or P1D")
    _check(lambda: parse_offsets(",".join(r.offsets)), "[reminders] offsets")
    for kind, offsets in r.kinds.items():
        if kind not in KINDS:
            raise ConfigError(f"[reminders.kinds] {kind}", f"unknown kind; known: {', '.join(KINDS)}")
        _check(lambda o=offsets: parse_offsets(",".join(o)), f"[reminders.kinds] {kind}")
    if m.backend not in ("outbox", "smtp"):
        raise ConfigError("[mail] backend", 'must be "outbox" or "smtp"')
    if m.smtp_security not in ("none", "starttls", "ssl"):
        raise ConfigError("[mail] smtp_security", 'must be "none", "starttls" or "ssl"')
    if not m.templates.strip():
        raise ConfigError("[mail] templates", "must name a folder, e.g. templates/emails")
    # The default may be absent (a config.toml outside a checkout): the packaged copy is used.
    # Any other folder was chosen on purpose, so a typo must not silently send the stock mail.
    templates = config.base_dir / m.templates
    if m.templates != MailSection.templates and not templates.is_dir():
        raise ConfigError("[mail] templates", f"no folder at {templates}")
    if m.helo and not _HOSTNAME.fullmatch(m.helo):
        raise ConfigError("[mail] helo", "must be a host name such as mail.example.org")
    if m.dkim_key:
        if not (config.base_dir / m.dkim_key).is_file():
            raise ConfigError("[mail] dkim_key", f"no key file at {config.base_dir / m.dkim_key}")
        if not _HOSTNAME.fullmatch(m.dkim_selector):
            raise ConfigError("[mail] dkim_selector",
                              "must name the key's DNS selector, e.g. tracker2025")
    elif m.dkim_selector:
        raise ConfigError("[mail] dkim_selector", "needs [mail] dkim_key (the private key file)")
    if not config.serve.secret_file.strip():
        raise ConfigError("[serve] secret_file", "must name a file, e.g. tracker.secret")


_HOSTNAME = re.compile(r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                       r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*")


def _check(fn: Any, where: str) -> None:
    try:
        fn()
    except ConfigError:
        raise
    except Exception as exc:  # a TrackerError from the parsers: re-label with the key
        message = getattr(exc, "message", str(exc))
        raise ConfigError(where, message) from None
