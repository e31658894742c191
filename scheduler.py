"""The long-running process: `python scheduler.py [--config PATH] [--once]` from a checkout.

A thin wrapper over tracker.scheduler.loop, which is installed as `tracker-scheduler` too.
"""

from __future__ import annotations

import sys

from tracker.scheduler.loop import main

if __name__ == "__main__":
    sys.exit(main())
