"""Reporting periods: quarters written `YYYYQn` (the DHIS2 convention), in local time.

Pure: the caller passes the instant. A quarter is assigned in Africa/Lubumbashi (UTC+2, no DST),
so an answer given at 23:30 local time on 31 March belongs to Q1 even though it is 21:30 UTC.
"""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Africa/Lubumbashi")
PERIOD_RE = re.compile(r"^(\d{4})Q([1-4])$")


def quarter_of(instant: datetime) -> str:
    """The `YYYYQn` quarter that contains `instant` (which must be timezone-aware)."""
    if instant.tzinfo is None:
        raise ValueError("quarter_of needs a timezone-aware datetime")
    local = instant.astimezone(LOCAL_TZ)
    return f"{local.year}Q{(local.month - 1) // 3 + 1}"


def is_period(text: str) -> bool:
    match = PERIOD_RE.match(text)
    return match is not None and 2000 <= int(match.group(1)) <= 2999


def quarter_bounds(period: str) -> tuple[datetime, datetime]:
    """Start (inclusive) and end (exclusive) of a quarter, in local time (Africa/Lubumbashi)."""
    match = PERIOD_RE.match(period)
    if match is None:
        raise ValueError(f"not a quarter: {period!r}")
    year, quarter = int(match.group(1)), int(match.group(2))
    start = datetime(year, 3 * quarter - 2, 1, tzinfo=LOCAL_TZ)
    end = datetime(year + (quarter == 4), 1 if quarter == 4 else 3 * quarter + 1, 1,
                   tzinfo=LOCAL_TZ)
    return start, end
