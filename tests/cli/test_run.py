"""`tracker run` as a real process: the scheduler and the web server together, on the demo."""

from __future__ import annotations

import email.parser
import email.policy
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.helpers.cli import Cli
from tests.helpers.site import page_token
from tests.helpers.smtp_server import free_port

ROOT = Path(__file__).resolve().parents[2]


def write_config(folder: Path, port: int) -> Path:
    config = folder / "config.toml"
    config.write_text(
        f'[tracker]\ndatabase = "sqlite:///tracker.db"\nbase_url = "http://127.0.0.1:{port}/"\n'
        f"[serve]\nport = {port}\n", encoding="utf-8")
    return config


def start(config: Path, *args: str) -> subprocess.Popen[str]:
    out = open(config.parent / "run.out", "w", encoding="utf-8")  # noqa: SIM115 (the child's)
    err = open(config.parent / "run.err", "w", encoding="utf-8")  # noqa: SIM115
    with out, err:
        return subprocess.Popen([sys.executable, "-m", "tracker", "--config", str(config), "run",
                                 *args], cwd=str(config.parent), stdout=out, stderr=err,
                                text=True)


def wait_for(cond: object, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():  # type: ignore[operator]
            return True
        time.sleep(0.2)
    return bool(cond())  # type: ignore[operator]


def fetch(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.status, resp.read().decode("utf-8")


@pytest.mark.slow
def test_tracker_run_serves_the_page_and_writes_the_first_reminder(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path, port)
    cli = Cli(config)
    loaded = cli.ok("init", "--sample", str(ROOT / "examples" / "cop12.toml"), "--demo").output
    assert "loaded sample cop12.toml" in loaded and "loaded the demo season" in loaded
    cli.ok("publish")
    proc = start(config)
    out = tmp_path / "run.out"
    try:
        address = f"http://127.0.0.1:{port}/"
        assert wait_for(lambda: f"the page is at {address}" in out.read_text(), 30), \
            (out.read_text(), (tmp_path / "run.err").read_text())
        status, page = fetch(address)
        assert status == 200 and "DEMO: Register on INDICO for the working group" in page
        # The countdown of the demo registration, ten days ahead.
        assert re.search(r"closes in (10 days, 0 hours|9 days, 23 hours)", page)
        token = page_token(f"sqlite:///{tmp_path / 'tracker.db'}", "amina.bello@example.org")
        status, own = fetch(f"{address}m/{token}")
        assert status == 200 and "Amina Bello" in own
        assert fetch(f"{address}all.ics")[1].startswith("BEGIN:VCALENDAR")
        # The demo's first reminder is due within about a minute and a half of loading.
        outbox = tmp_path / "outbox"
        assert wait_for(lambda: any(outbox.glob("*.eml")), 150), (tmp_path / "run.err").read_text()
        first = sorted(outbox.glob("*.eml"))[0]
        mail = email.parser.BytesParser(policy=email.policy.default).parsebytes(first.read_bytes())
        assert str(mail["Subject"]).startswith("Reminder: DEMO: Register on INDICO")
        body = mail.get_body(("plain",))
        assert body is not None and f"{address}m/" in body.get_content()
    finally:
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=30)
    assert rc == 0, (tmp_path / "run.err").read_text()
    assert "stopped" in (tmp_path / "run.err").read_text()


@pytest.mark.slow
def test_tracker_run_on_a_taken_port_says_so(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = write_config(tmp_path, port)
        proc = start(config)
        rc = proc.wait(timeout=60)
    err = (tmp_path / "run.err").read_text()
    assert rc == 1, err
    assert err.startswith(f"error: --port: could not listen on 127.0.0.1:{port} (Address already "
                          "in use); choose another port")
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    assert "the page is at" not in (tmp_path / "run.out").read_text()
