"""The date arithmetic of spans: span numbers, night dates, ranges and history nights.

Raw recordings land in one dated folder per night (``nights/<YYYY-MM-DD>/``); each folder is a
span, numbered like TFX's date spans (days since 1970-01-01).
"""

from __future__ import annotations

import datetime as dt

from transforms import features as fc

UNIX_EPOCH = dt.date(1970, 1, 1)


def span_of(night: dt.date) -> int:
    """Return the span number of a night (days since 1970-01-01, as TFX numbers date spans)."""
    return (night - UNIX_EPOCH).days


def night_of(span: int) -> dt.date:
    """Return the night a span number stands for."""
    return UNIX_EPOCH + dt.timedelta(days=span)


def parse_night(text: str) -> dt.date:
    """Parse a night date, ``YYYY-MM-DD`` only, with an error that names the expected form.

    Python's ``fromisoformat`` alone also takes ``20260416`` and ``2026-W16-4``, which name no
    night folder; anything else (``../path``) is refused before it becomes part of a path.
    """
    try:
        night = dt.date.fromisoformat(text)
    except (TypeError, ValueError):
        night = None
    if night is not None and night.isoformat() == text:  # YYYY-MM-DD and nothing else
        return night
    raise ValueError(f"night {text!r} is not a date in the form YYYY-MM-DD")


def night_range(first: dt.date, last: dt.date) -> list[dt.date]:
    """Every night from ``first`` to ``last``, inclusive."""
    if first > last:
        raise ValueError(f"range starts {first} after it ends {last}")
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def history_nights(night: dt.date) -> list[dt.date]:
    """The ``HISTORY_NIGHTS`` nights whose statistics a night's history features hold."""
    return [night - dt.timedelta(days=back) for back in range(fc.HISTORY_NIGHTS, 0, -1)]
