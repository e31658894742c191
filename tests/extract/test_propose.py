"""Sentences -> proposals: the issue's examples, years, zones around DST, notes."""

from __future__ import annotations

from datetime import date, time

import pytest

from tracker.errors import TrackerError
from tracker.extract.propose import Moment, Proposal, extract

HEAD = "Minutes of the informal meeting of 10 September 2024\n\n"


def one(text: str, tz: str = "Europe/Vienna", year: int | None = None) -> Proposal:
    proposals = extract(text.splitlines(), tz=tz, year=year).proposals
    assert len(proposals) == 1, proposals
    return proposals[0]


def test_speakers_list_window_closing_at_noon() -> None:
    p = one(HEAD + "The list of speakers opened on Monday, September 2nd, and will close at "
            "noon on Monday, October 14th.")
    assert (p.kind, p.opens, p.due) == (
        "speakers-list", Moment(date(2024, 9, 2)), Moment(date(2024, 10, 14), time(12)))
    assert p.line == 3 and p.sentence.startswith("The list of speakers opened")
    assert p.notes == []


def test_register_by_a_date_without_year_takes_the_meeting_year() -> None:
    p = one(HEAD + "All participants ... are required to register by October 4th.")
    assert (p.kind, p.due, p.opens) == ("registration", Moment(date(2024, 10, 4)), None)


def test_year_option_when_the_document_has_no_dated_heading() -> None:
    p = one("All participants are required to register by October 4th.", year=2026)
    assert p.due == Moment(date(2026, 10, 4))


def test_no_year_anywhere_is_refused_naming_the_field() -> None:
    with pytest.raises(TrackerError) as caught:
        extract(["All participants are required to register by October 4th."],
                tz="Europe/Vienna")
    assert caught.value.field == "year" and "October 4th" in caught.value.message


def test_a_date_long_before_the_meeting_is_next_year() -> None:
    p = one("Minutes of the meeting of 10 December 2024\n\nNominations are due by 15 January.")
    assert p.due == Moment(date(2025, 1, 15))


def test_two_ground_pass_windows_in_one_sentence() -> None:
    text = HEAD + ("Ground passes will be issued at the gate on Friday 11, October from 9 am "
                   "until 1 p.m. and on Monday 14, October 8 a.m. to 11 a.m.")
    proposals = extract(text.splitlines(), tz="Europe/Vienna").proposals
    assert [(p.kind, p.opens, p.due) for p in proposals] == [
        ("ground-pass", Moment(date(2024, 10, 11), time(9)), Moment(date(2024, 10, 11), time(13))),
        ("ground-pass", Moment(date(2024, 10, 14), time(8)), Moment(date(2024, 10, 14), time(11))),
    ]


def test_event_on_the_4th_and_5th_of_may() -> None:
    p = one(HEAD + "The Constructive Dialogue on Firearms will take place on the 4th and 5th "
            "of May.")
    assert (p.kind, p.title, p.start, p.end) == (
        "event", "Constructive Dialogue on Firearms", Moment(date(2025, 5, 4)),
        Moment(date(2025, 5, 5)))


def test_short_numeric_date_in_brackets() -> None:
    p = one("Update of 2 April 2025\n\nThe Constructive Dialogue on Firearms (05/05).")
    assert (p.kind, p.start, p.end) == ("event", Moment(date(2025, 5, 5)), None)


def test_by_1_may() -> None:
    p = one(HEAD + "Names of delegation members should reach us by 1 May.")
    assert (p.kind, p.due) == ("nomination", Moment(date(2025, 5, 1)))


def test_close_at_noon_on_the_opening_day_of_the_session() -> None:
    text = (HEAD + "COP12 will be held from 14 to 18 October 2024.\n\nThe list of speakers "
            "will be opened on 2 September. The list will be closed at noon on the opening "
            "day of the session.")
    proposals = extract(text.splitlines(), tz="Europe/Vienna").proposals
    speakers = [p for p in proposals if p.kind == "speakers-list"]
    assert len(speakers) == 1
    assert speakers[0].opens == Moment(date(2024, 9, 2))
    assert speakers[0].due == Moment(date(2024, 10, 14), time(12))
    assert "opening day of 'COP12'" in speakers[0].notes[0]


def test_midnight_is_the_end_of_the_day() -> None:
    p = one(HEAD + "Please nominate one person by midnight on 24 September.")
    # the same as a deadline due on 24 September (its end, 23:59), not 25 September 00:00
    assert p.due == Moment(date(2024, 9, 24))


def test_history_is_not_proposed() -> None:
    text = HEAD + ("The previous meeting was held on 12 November 2024. The Commission held "
                   "its session on 20-24 May 2024. In 2023 the group organised side events on "
                   "17 and 19 March.")
    assert extract(text.splitlines(), tz="Europe/Vienna").proposals == []


def test_the_heading_meeting_itself_is_not_proposed() -> None:
    assert extract([HEAD.strip(), "", "Present: 12 members."], tz="Europe/Vienna").proposals == []


GMT = [  # the stated offset is checked against the zone on that day, never used as the zone
    ("Europe/Vienna", "9 Nov 2024", "GMT+1", False),
    ("Europe/Vienna", "8 Apr 2025", "GMT+2", False),
    ("Europe/Vienna", "8 Apr 2025", "GMT+1", True),  # summer time: Vienna is GMT+2
    ("Europe/Vienna", "30 Mar 2025", "GMT+1", True),  # the day Vienna springs forward
    ("Europe/Vienna", "29 Mar 2025", "GMT+1", False),
    ("Europe/Vienna", "27 Oct 2024", "GMT+1", False),  # the day it falls back, afternoon
    ("America/New_York", "9 Mar 2025", "GMT-4", False),
    ("America/New_York", "8 Mar 2025", "GMT-4", True),
    ("America/Halifax", "2 Nov 2025", "GMT-4", False),
    ("America/Halifax", "1 Nov 2025", "GMT-4", True),
    ("Africa/Lagos", "1 Jul 2025", "GMT+1", False),
    ("Africa/Lagos", "1 Jan 2025", "GMT+2", True),
    ("Asia/Karachi", "1 Jul 2025", "GMT+5", False),
    ("Asia/Tokyo", "1 Jan 2025", "GMT+9", False),
]


@pytest.mark.parametrize("tz,day,stated,noted", GMT, ids=[f"{z}-{d}-{s}" for z, d, s, _ in GMT])
def test_stated_gmt_offset_is_checked_not_used(tz: str, day: str, stated: str,
                                               noted: bool) -> None:
    p = one(f"Minutes of 1 October 2024\n\nNext meeting: Informal Meeting, {day}, 15:00 - 16:30 "
            f"({stated})", tz=tz)
    assert p.tz == tz
    assert p.start is not None and p.start.clock == time(15)
    assert p.end is not None and p.end.clock == time(16, 30)
    assert bool(p.notes) == noted, p.notes
    if noted:
        assert stated in p.notes[0] and tz in p.notes[0]


def test_a_time_the_clocks_skip_is_noted() -> None:
    p = one(HEAD + "Next meeting: 30 March 2025, 02:30 - 03:30 (GMT+1)", tz="Europe/Vienna")
    assert any("does not exist" in note for note in p.notes)


def test_city_time_sets_the_zone() -> None:
    p = one(HEAD + "An informal consultation is scheduled for 23 October at 10:00 New York "
            "time.")
    assert (p.tz, p.start) == ("America/New_York", Moment(date(2024, 10, 23), time(10)))


def test_a_wrong_weekday_is_noted() -> None:
    p = one(HEAD + "Registration closes on Tuesday 4 October.")
    assert p.notes == ["the text says Tuesday but 04 Oct 2024 is a Friday"]


def test_unknown_zone_is_refused() -> None:
    with pytest.raises(TrackerError) as caught:
        extract([HEAD], tz="GMT+1")
    assert caught.value.field == "tz"


def test_bulleted_dates_take_their_meaning_from_the_lead_in() -> None:
    text = (HEAD + "The informal meetings will continue on these dates:\n"
            "- 8 October 2024, 15:00 - 16:30 (GMT+2)\n- 12 November 2024, 15:00 - 16:30 (GMT+1)")
    proposals = extract(text.splitlines(), tz="Europe/Vienna").proposals
    assert [(p.kind, p.start, p.line, p.notes) for p in proposals] == [
        ("event", Moment(date(2024, 10, 8), time(15)), 4, []),
        ("event", Moment(date(2024, 11, 12), time(15)), 5, []),
    ]
    assert proposals[0].title == "Informal meetings"


def test_line_numbers_point_into_long_paragraphs() -> None:
    text = HEAD + "\n".join([
        "The coordinator recalled the history of the alliance, founded in 2009, and its",
        "first statement in 2014; since the 2019 session it coordinates joint statements,",
        "and applications for side events are accepted until 14 March 2025 through the",
        "online platform.",
    ])
    p = one(text)
    assert (p.kind, p.due, p.line) == ("application", Moment(date(2025, 3, 14)), 5)
