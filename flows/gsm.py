"""How an SMS travels: GSM-7 or UCS-2, and how many parts it costs (DESIGN §4).

Pure. The GSM 03.38 alphabet comes from the `gsm0338` codec (basic set and its extension table,
whose characters take two septets: `{ } [ ] ~ \\ | ^ €`).

Rules:
- a text every character of which GSM-7 has is sent as GSM-7: 160 septets in one message,
  153 per part when it must be split;
- one character outside it (ç ê â î ô û ë ï œ, curly quotes, « », Lingala's open vowels) makes the
  whole message UCS-2: 70 UTF-16 units in one message, 67 per part.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import gsm0338

GSM7 = "GSM-7"
UCS2 = "UCS-2"
_LIMITS = {GSM7: (160, 153), UCS2: (70, 67)}


@cache
def _codec() -> gsm0338.Codec:
    return gsm0338.Codec()


@dataclass(frozen=True)
class Encoding:
    name: str  # GSM-7 | UCS-2
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2
    segments: int
    offending: str = ""  # the characters that forced UCS-2

    @property
    def single(self) -> bool:
        return self.segments == 1


def septets(text: str) -> int | None:
    """GSM-7 length of `text`, or None when a character is not in GSM-7."""
    try:
        encoded, _ = _codec().encode(text)
    except UnicodeEncodeError:
        return None
    return len(encoded)


def encoding_of(text: str) -> Encoding:
    gsm = septets(text)
    if gsm is not None:
        return Encoding(GSM7, gsm, _segments(gsm, GSM7))
    units = len(text.encode("utf-16-le")) // 2
    offending = "".join(sorted({c for c in text if septets(c) is None}))
    return Encoding(UCS2, units, _segments(units, UCS2), offending)


def _segments(units: int, name: str) -> int:
    single, part = _LIMITS[name]
    if units <= single:
        return 1
    return math.ceil(units / part)
