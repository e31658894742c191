"""The built wheel works outside the checkout: templates, migrations and both console scripts.

The wheel is built from a copy of the build inputs (so the checkout gets no `build/` folder and
no stale file from an older build can slip in), installed without dependencies into a fresh
venv in tmp_path, and run from a folder with its own config.toml. The dependencies come from
this test's own environment through a `.pth` line, which adds that folder to sys.path without
running its `.pth` files, so the editable install of the checkout stays out: `tracker` is
imported from the wheel, which the test asserts.
"""

from __future__ import annotations

import email.parser
import email.policy
import os
import shutil
import subprocess
import sys
import sysconfig
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUILD_INPUTS = ("pyproject.toml", "setup.py", "MANIFEST.in", "tracker", "templates")


def _run(args: list[str | Path], cwd: Path, env: dict[str, str] | None = None,
         timeout: float = 120) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                            text=True, timeout=timeout, check=False)
    assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result


def _can_build_without_isolation() -> bool:
    """setuptools >= 70.1 builds wheels itself (older ones need the `wheel` package)."""
    try:
        major, minor = (int(p) for p in metadata.version("setuptools").split(".")[:2])
    except (metadata.PackageNotFoundError, ValueError):
        return False
    return (major, minor) >= (70, 1)


def build_wheel(tmp_path: Path) -> Path:
    source, out = tmp_path / "src", tmp_path / "dist"
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in BUILD_INPUTS:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=ignore)
        else:
            shutil.copy2(ROOT / name, source / name)
    isolation = ["--no-build-isolation"] if _can_build_without_isolation() else []
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "-q", "-w", out,
          source], cwd=tmp_path)
    (wheel,) = out.glob("tracker-*.whl")
    return wheel


def make_venv(tmp_path: Path, wheel: Path) -> Path:
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp_path)
    python = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index",
          "-q", wheel], cwd=tmp_path)
    site = _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                cwd=tmp_path).stdout.strip()
    ours = dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))
    (Path(site) / "_test_dependencies.pth").write_text("\n".join(ours) + "\n", encoding="utf-8")
    return venv


@pytest.mark.slow
def test_wheel_installed_outside_the_checkout_runs(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path)
    venv = make_venv(tmp_path, wheel)
    bin_dir = venv / "bin"
    work = tmp_path / "work"
    work.mkdir()
    config = work / "config.toml"
    config.write_text('[tracker]\ndatabase = "sqlite:///tracker.db"\n'
                      'base_url = "https://t.example.org/"\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "TRACKER_CONFIG", "VIRTUAL_ENV")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"

    def tracker(*args: str) -> str:
        return _run([bin_dir / "tracker", "--config", config, *args], cwd=work, env=env).stdout

    where = _run([bin_dir / "python", "-c", "import tracker; print(tracker.__file__)"],
                 cwd=work, env=env).stdout.strip()
    assert Path(where).is_relative_to(venv), where
    assert not Path(where).is_relative_to(ROOT / "tracker")

    tracker("init")
    # The members' pages come from the wheel's own copy of templates/web.
    shown = _run([bin_dir / "python", "-c", "from tracker.web.pages import templates_dir as t; "
                  "d = t(); print(d); print(' '.join(sorted(p.name for p in d.iterdir())))"],
                 cwd=work, env=env).stdout.split("\n")
    assert Path(shown[0]).is_relative_to(venv), shown
    assert set(shown[1].split()) == {p.name for p in (ROOT / "templates" / "web").iterdir()}
    due = (datetime.now(UTC) + timedelta(days=5)).date().isoformat()
    tracker("deadline", "add", "Register", "--due", due, "--kind", "registration", "--id", "reg")
    tracker("member", "add", "a@example.org", "--tz", "Africa/Lagos")

    shown = tracker("remind", "preview", "reg")
    assert "Subject: Reminder: Register - due " in shown
    template = (ROOT / "templates" / "emails" / "registration.txt.j2").read_text(encoding="utf-8")
    fixed = [line for line in template.splitlines() if line.strip() and "{" not in line]
    assert fixed and all(line in shown for line in fixed), (fixed, shown)

    tracker("publish")
    assert "BEGIN:VCALENDAR" in (work / "calendars" / "all.ics").read_text(encoding="utf-8")

    _run([bin_dir / "tracker-scheduler", "--config", config, "--once"], cwd=work, env=env)
    # The 14-day reminder's moment has passed and the deadline is ahead: it goes out late, so
    # the scheduler too rendered the packaged templates.
    (sent,) = (work / "outbox").glob("*.eml")
    mail = email.parser.BytesParser(policy=email.policy.default).parsebytes(sent.read_bytes())
    body = mail.get_body(("plain",))
    assert body is not None and body.get_content().count(fixed[-1]) == 1
