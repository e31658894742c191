"""Event calendar and registration-deadline tracker for UN crime-prevention meetings."""

from __future__ import annotations

__version__ = "0.1.0"
