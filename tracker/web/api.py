"""`GET /api/upcoming?series=...&kind=...&tz=...&limit=...`: the public page's list as JSON.

The same items as `/` (public, still ahead, cancelled ones while they stay in the feeds),
soonest first. Each item gives its times in its own zone (ISO 8601 with that zone's offset),
in UTC (ending in Z) and, with `tz`, in that zone. `series` and `kind` may repeat (or be
comma-separated); `kind` is `event` or a deadline kind. A bad value is a 400 whose body names
the field with the same message the CLI gives:
``{"error": {"field": "tz", "message": "unknown time zone 'Mars/Base'; use ..."}}``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tracker.config import Config
from tracker.errors import TrackerError
from tracker.timeparse import iso_local, iso_utc, parse_zone
from tracker.web.listing import Entry, Filters, parse_limit, upcoming
from tracker.web.safety import web_session

NowFn = Callable[[], datetime]


def entry_json(entry: Entry, tz: str | None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "type": entry.type, "id": entry.id, "uid": entry.uid, "title": entry.title,
        "kind": entry.kind, "status": entry.status, "cancelled": entry.cancelled,
        "tz": entry.tz, "all_day": entry.all_day, "series": list(entry.series),
        "url": entry.url, "location": entry.location,
        "ics": f"/items/{entry.type}/{entry.id}.ics",
    }
    if entry.is_deadline:
        data.update({
            "due": iso_local(entry.start_utc, entry.tz), "due_utc": iso_utc(entry.start_utc),
            "due_date": entry.due_date.isoformat() if entry.due_date else None,
            "opens_utc": iso_utc(entry.opens_utc) if entry.opens_utc else None,
            "instructions": entry.instructions, "email": entry.email,
            "event_title": entry.event_title or None,
        })
        if tz:
            data["due_local"] = iso_local(entry.start_utc, tz)
    else:
        data.update({
            "start": (entry.start_date.isoformat() if entry.all_day and entry.start_date
                      else iso_local(entry.start_utc, entry.tz)),
            "end": (entry.end_date.isoformat() if entry.all_day and entry.end_date
                    else iso_local(entry.end_utc, entry.tz)),
            "start_utc": iso_utc(entry.start_utc), "end_utc": iso_utc(entry.end_utc),
            "mode": entry.mode, "description": entry.instructions,
        })
        if tz and not entry.all_day:
            data["start_local"] = iso_local(entry.start_utc, tz)
            data["end_local"] = iso_local(entry.end_utc, tz)
    return data


def routes(config: Config, now_fn: NowFn) -> list[Route]:
    """The JSON routes, for `tracker.web.app.create_app`."""

    def upcoming_json(request: Request) -> Response:  # sync: runs in the thread pool
        params = request.query_params
        try:
            filters = Filters.parse([s for s in params.getlist("series") if s],
                                    [k for k in params.getlist("kind") if k])
            tz = params.get("tz") or None
            if tz is not None:
                tz = parse_zone(tz, "tz").key
            limit = parse_limit(params.get("limit"))
        except TrackerError as exc:
            return JSONResponse({"error": {"field": exc.field, "message": exc.message}},
                                status_code=400)
        now = now_fn()
        with web_session(config.database_url) as session:
            entries = upcoming(session, now, filters=filters, limit=limit,
                               cancelled_days=config.calendars.cancelled_days)
        return JSONResponse({
            "generated": iso_utc(now), "tz": tz, "series": list(filters.series),
            "kinds": list(filters.kinds), "items": [entry_json(e, tz) for e in entries],
        }, headers={"Cache-Control": "no-cache", "Access-Control-Allow-Origin": "*"})

    return [Route("/api/upcoming", upcoming_json, methods=["GET"])]
