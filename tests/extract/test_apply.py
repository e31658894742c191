"""Proposals -> record inputs, and when two titles name the same item."""

from __future__ import annotations

from datetime import date, time

import pytest

from tracker.extract.apply import Edits, alike, deadline_input, event_input
from tracker.extract.propose import Moment, Proposal

ALIKE = [
    ("Informal Meeting", "informal meeting", True),
    ("List of speakers", "COP12 list of speakers", True),
    ("Registration: Conference", "Registration", True),
    ("Ground-pass collection", "Ground passes", True),
    ("Registration", "Nominations", False),
    ("Constructive Dialogue on Firearms", "Constructive Dialogue on Firearm", True),
    ("Constructive Dialogue on Firearms", "Constructive Dialogue on Cybercrime", False),
    ("", "Registration", False),
]


@pytest.mark.parametrize("a,b,same", ALIKE, ids=[f"{a}|{b}" for a, b, _ in ALIKE])
def test_alike_titles(a: str, b: str, same: bool) -> None:
    assert alike(a, b) is same


def test_deadline_input_is_wall_clock_text_in_its_zone() -> None:
    p = Proposal("speakers-list", "List of speakers", "Europe/Vienna", 5, "The list ...",
                 opens=Moment(date(2024, 9, 2)), due=Moment(date(2024, 10, 14), time(12)))
    values = deadline_input(p)
    assert (values.due, values.opens, values.tz, values.kind) == (
        "2024-10-14T12:00", "2024-09-02", "Europe/Vienna", "speakers-list")
    assert values.notes == "From the minutes, line 5: The list ..."
    edited = deadline_input(p, Edits(main="2024-10-15 noon", other="", event="cop12"))
    assert (edited.due, edited.opens, edited.event) == ("2024-10-15 noon", None, "cop12")


def test_event_input_keeps_all_day_dates() -> None:
    p = Proposal("event", "COP12", "Europe/Vienna", 3, "COP12 ...",
                 start=Moment(date(2024, 10, 14)), end=Moment(date(2024, 10, 18)))
    values = event_input(p)
    assert (values.start, values.end, values.title) == ("2024-10-14", "2024-10-18", "COP12")
