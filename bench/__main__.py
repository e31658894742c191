"""`python -m bench` (or `make bench`): run every benchmark, each in its own process.

Each prints its figures as medians of several runs and as ratios against a baseline measured
in the same run; see the module docstrings for what is measured.
"""

from __future__ import annotations

import subprocess
import sys

BENCHES = ["bench.feeds_bench", "bench.private_feed_bench", "bench.mail_bench", "bench.extract_bench",
           "bench.member_import_bench", "bench.round_bench", "bench.ics_import_bench"]


def main() -> int:
    status = 0
    for module in BENCHES:
        print(f"== {module}", flush=True)
        status |= subprocess.run([sys.executable, "-m", module, *sys.argv[1:]]).returncode
    return status


if __name__ == "__main__":
    sys.exit(main())
