"""`tracker run`: the whole service in one process: the scheduler loop and the web server.

The scheduler's rounds run in APScheduler's background thread (as in `tracker-scheduler`), the
web server (uvicorn, the same app as `tracker serve`) in the main thread, which receives Ctrl-C
and SIGTERM; when the server stops, the scheduler finishes the message in flight, gives back
the rest of its claim and stops too. `tracker serve` and `tracker-scheduler` stay for
deployments that run them apart (several web workers, several schedulers on one PostgreSQL).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from types import FrameType

import click

from tracker.cli.context import AppContext, TrackerCommand
from tracker.config import Config
from tracker.db.engine import migrate
from tracker.errors import OperationalError


@click.command("run", cls=TrackerCommand)
@click.option("--host", help="Address to listen on (default: [serve] host).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default: [serve] port).")
@click.pass_obj
def run(app: AppContext, host: str | None, port: int | None) -> None:
    """Run the scheduler (reminders, feeds) and the web server (pages, feeds) until Ctrl-C.

    Example: tracker run --port 8080
    """
    import uvicorn

    from tracker.scheduler.loop import Loop, owner_name
    from tracker.web.app import create_app

    config = app.config
    host, port = host or config.serve.host, port or config.serve.port
    migrate(config.database_url)  # safe to repeat; a fresh checkout's database is made here
    for name in ("tracker.scheduler", "tracker.web"):  # rounds that sent mail, page changes
        if not logging.getLogger(name).isEnabledFor(logging.INFO):
            logging.getLogger(name).setLevel(logging.INFO)
    server = uvicorn.Server(uvicorn.Config(
        create_app(config), host=host, port=port, log_level="warning", access_log=False,
        proxy_headers=True, forwarded_allow_ips="127.0.0.1",
    ))
    try:  # bound here, so a taken port is one line and nothing has started yet
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listener = socket.create_server((host, port), family=family)
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise OperationalError("port", f"could not listen on {host}:{port} ({reason}); "
                               "choose another port") from None
    loop = Loop(config, owner_name(), once=False)
    announcer = threading.Thread(target=_announce, args=(server, config, host, port),
                                 daemon=True)
    # uvicorn handles SIGINT/SIGTERM while it serves, then restores the handlers it found and
    # raises the signal again; these (no-op) handlers are what it finds, so the signal ends
    # the server and this command stops the scheduler cleanly and exits 0.
    previous = {sig: signal.signal(sig, _noted) for sig in (signal.SIGINT, signal.SIGTERM)}
    loop.start()
    announcer.start()
    try:
        server.run(sockets=[listener])  # until SIGINT/SIGTERM, in this main thread
    finally:
        listener.close()
        click.echo("stopping the scheduler...", err=True)
        loop.shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    click.echo("stopped", err=True)


def _noted(sig: int, frame: FrameType | None) -> None:
    """A stop signal after the server has stopped: the scheduler is already stopping."""


def page_address(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def _announce(server: object, config: Config, host: str, port: int) -> None:
    """Print the addresses once the server listens (not before: the port may be taken)."""
    for _ in range(600):
        if getattr(server, "started", False):
            break
        if getattr(server, "should_exit", False):
            return
        time.sleep(0.05)
    else:
        return
    address = page_address(host, port)
    lines = [
        f"tracker is running: the page is at {address}",
        f"  public feeds:   {address}all.ics (published in {config.calendars_dir})",
        f"  reminder mail:  {_mail_target(config)}",
        f"  links in mail:  {config.tracker.base_url} ([tracker] base_url)",
        "  Ctrl-C stops the web server and the scheduler.",
    ]
    click.echo("\n".join(lines))


def _mail_target(config: Config) -> str:
    mail = config.mail
    if mail.backend == "outbox":
        return f".eml files in {config.outbox_dir}"
    return f"SMTP {mail.smtp_host}:{mail.smtp_port}"
