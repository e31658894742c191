"""Extract benchmark: `extract` on the labelled minutes, against dateparser's search_dates.

Run: .venv/bin/python -m bench.extract_bench [--runs N]
The baseline is dateparser 1.5.0's `search_dates` over the same texts, when dateparser is
importable (it is not a dependency: install it into the venv to compare). Besides time it
reports how many of the labelled dates each finds and how many of its results are no labelled
date, which is why tracker uses its own strict patterns (README, "tracker extract").
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

from tracker.extract.propose import extract
from tracker.extract.text import document_lines

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "minutes"


def documents() -> list[tuple[Path, list[str], dict[str, Any]]]:
    out = []
    for path in sorted(p for p in DATA.iterdir() if not p.name.endswith(".labels.json")):
        labels = json.loads(path.with_name(path.stem + ".labels.json").read_text("utf-8"))
        out.append((path, document_lines(path.read_bytes(), path.name), labels))
    return out


def labelled_dates(labels: dict[str, Any]) -> set[str]:
    return {item[k][:10] for item in labels["items"] for k in ("start", "end", "opens", "due")
            if item.get(k)}


def median_ms(run: Any, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    docs = documents()
    wanted = [labelled_dates(labels) for _, _, labels in docs]

    def ours() -> list[set[str]]:
        found = []
        for _, lines, labels in docs:
            proposals = extract(lines, tz=labels["tz"], year=labels.get("year")).proposals
            found.append({m.day.isoformat() for p in proposals
                          for m in (p.start, p.end, p.opens, p.due) if m is not None})
        return found

    ours_ms = median_ms(ours, runs)
    hits = sum(len(w & f) for w, f in zip(wanted, ours(), strict=True))
    total = sum(len(w) for w in wanted)
    print(f"extract: {len(docs)} documents in {ours_ms:.1f} ms (median of {runs}); "
          f"labelled dates found {hits}/{total}")
    try:
        from dateparser.search import search_dates  # type: ignore[import-not-found]
    except ImportError:
        print("dateparser not installed: no baseline (pip install dateparser==1.5.0)")
        return
    bases = []  # dateparser's RELATIVE_BASE is a naive wall-clock datetime
    for _, lines, labels in docs:
        day = extract(lines, tz=labels["tz"], year=labels.get("year")).reference or date(2025, 1, 1)
        bases.append(datetime(day.year, day.month, day.day))  # noqa: DTZ001
    texts = ["\n".join(lines) for _, lines, _ in docs]
    results: list[list[Any]] = []

    def theirs() -> None:
        results.clear()
        for text, base in zip(texts, bases, strict=True):
            settings = {"DATE_ORDER": "DMY", "PREFER_DATES_FROM": "future", "RELATIVE_BASE": base}
            results.append(search_dates(text, languages=["en"], settings=settings) or [])

    start = time.perf_counter()
    theirs()
    first_ms = (time.perf_counter() - start) * 1000
    theirs_ms = median_ms(theirs, runs)
    found = [{d.date().isoformat() for _, d in r} for r in results]
    their_hits = sum(len(w & f) for w, f in zip(wanted, found, strict=True))
    count = sum(len(r) for r in results)
    stray = sum(1 for r, w in zip(results, wanted, strict=True) for _, d in r
                if d.date().isoformat() not in w)
    print(f"dateparser search_dates: {theirs_ms:.1f} ms (first run {first_ms:.0f} ms), "
          f"ratio {theirs_ms / ours_ms:.1f}x; labelled dates found {their_hits}/{total}; "
          f"{count} results, {stray} of them no labelled date")


if __name__ == "__main__":
    main()
