"""Which IANA zone an imported TZID means.

- An IANA name is kept as given (also inside Mozilla's '/mozilla.org/.../Europe/Vienna').
- A Windows zone id ("W. Europe Standard Time") maps through the CLDR table icalendar ships.
- Anything else with a VTIMEZONE in the file (Outlook's display names such as "(UTC+01:00)
  Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna") becomes the IANA zone whose offsets equal
  the VTIMEZONE's over the items' years: the configured zone first, then the cities the name
  lists, then CLDR's main zone of each Windows id, then every zone in a stable order.
- A mapped (not IANA) zone that keeps the same clock as `[tracker] timezone` over those years
  becomes the configured zone: "W. Europe Standard Time" is Europe/Berlin in CLDR, but a
  Vienna secretariat's meeting is better stored as Europe/Vienna (same instants, its own name).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

_HOUR = timedelta(hours=1)


@lru_cache(maxsize=1)
def iana_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def iana_name(tzid: str) -> str | None:
    """The IANA zone a TZID names literally (or as the tail of a path), else None."""
    text = tzid.strip().strip('"')
    zones = iana_zones()
    if text in zones:
        return text
    parts = text.split("/")
    for i in range(1, len(parts) - 1):
        candidate = "/".join(parts[i:])
        if candidate in zones:
            return candidate
    return None


def resolve(tzid: str, rules: tzinfo | None, years: tuple[int, int], configured: str,
            ) -> str | None:
    """The IANA zone for an imported TZID; `rules` is the file's VTIMEZONE as a tzinfo (when
    the file has one), `years` the (first, last) year of the item. None: no zone fits."""
    text = tzid.strip().strip('"')
    iana = iana_name(text)
    if iana is not None:
        return iana
    mapped = WINDOWS_TO_OLSON.get(text)
    if mapped is None and rules is not None:
        mapped = _matching_zone(text, rules, years, configured)
    if mapped is None:
        return None
    if mapped != configured and same_clock(mapped, configured, years):
        return configured
    return mapped


def _instants(years: tuple[int, int]) -> list[datetime]:
    start = datetime(years[0], 1, 1, tzinfo=UTC)
    end = datetime(years[1] + 1, 1, 1, tzinfo=UTC)
    return [start + _HOUR * n for n in range(int((end - start) / _HOUR))]


@lru_cache(maxsize=1024)
def _zone_offsets(key: str, years: tuple[int, int]) -> tuple[timedelta | None, ...]:
    zone = ZoneInfo(key)
    return tuple(t.astimezone(zone).utcoffset() for t in _instants(years))


@lru_cache(maxsize=256)
def same_clock(a: str, b: str, years: tuple[int, int]) -> bool:
    """Whether two IANA zones show the same offset at every hour of those years."""
    return _zone_offsets(a, years) == _zone_offsets(b, years)


def _matching_zone(name: str, rules: tzinfo, years: tuple[int, int], configured: str,
                   ) -> str | None:
    """The first IANA zone whose offsets equal the file's VTIMEZONE over `years`.

    The file's rules (a dateutil tzical, slow: it counts from 1601) are read at the middle of
    every month and hour by hour around each of the candidate's own changes, which is where two
    zones with equal monthly offsets can still differ (the hour or day of the change).
    """
    probes = [datetime(y, m, 15, 12, tzinfo=UTC) for y in range(years[0], years[1] + 1)
              for m in range(1, 13)]
    wanted = [p.astimezone(rules).utcoffset() for p in probes]
    bare = re.sub(r"^\(.*?\)\s*", "", name)
    cities = [c.strip().replace(" ", "_") for c in bare.split(",")]
    named = sorted(z for z in iana_zones() if z.rsplit("/", 1)[-1] in cities and "/" in z)
    # "Eastern Time (US & Canada)" is the display name of "Eastern Standard Time".
    words = re.sub(r"\s*\(.*\)\s*$", "", bare)
    if words.endswith(" Time"):
        guess = WINDOWS_TO_OLSON.get(words[: -len(" Time")] + " Standard Time")
        named = ([guess] if guess else []) + named
    main = sorted(set(WINDOWS_TO_OLSON.values()) & iana_zones())  # CLDR's main zone per id
    others = sorted(z for z in iana_zones() if "/" in z and not z.startswith(("Etc/", "SystemV/")))
    for key in dict.fromkeys([configured, *named, *main, *others]):
        zone = ZoneInfo(key)
        if [p.astimezone(zone).utcoffset() for p in probes] != wanted:
            continue
        near = _near_changes(key, years)
        if all(t.astimezone(rules).utcoffset() == t.astimezone(zone).utcoffset() for t in near):
            return key
    return None


@lru_cache(maxsize=1024)
def _near_changes(key: str, years: tuple[int, int]) -> tuple[datetime, ...]:
    """Every hour within three hours of one of the zone's offset changes in those years."""
    instants = _instants(years)
    offsets = _zone_offsets(key, years)
    near: set[datetime] = set()
    for i in range(1, len(offsets)):
        if offsets[i] != offsets[i - 1]:
            near.update(instants[i] + _HOUR * k for k in range(-3, 4))
    return tuple(sorted(near))
