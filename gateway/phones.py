"""Phone numbers: normalise to E.164, then keep only an HMAC pseudonym.

Rules (DESIGN §5):
- `+243 97…`, `00243 97…`, `097…` and `243 97…` are one person (`phonenumbers`, region CD);
- the pseudonym is HMAC-SHA256(PHONE_HASH_KEY, E.164) in hex, stored with the key's version; the
  key lives in the environment, never in the database;
- a raw number never leaves this module except as that pseudonym; errors never quote the input.
"""

from __future__ import annotations

import hashlib
import hmac
import re

import phonenumbers

DEFAULT_REGION = "CD"
_DIGITS = re.compile(r"\d+")


class InvalidPhone(ValueError):
    """The text is not a phone number (the message never contains the text itself)."""


def normalise(raw: str, region: str = DEFAULT_REGION) -> str:
    """E.164 form of `raw`; raises InvalidPhone when it cannot be a phone number."""
    text = (raw or "").strip()
    if not text or len(text) > 32:
        raise InvalidPhone("empty or too long")
    digits = "".join(_DIGITS.findall(text))
    candidates = [text]
    if not text.startswith(("+", "0")) and digits.startswith("243"):
        candidates.insert(0, "+" + digits)
    for candidate in candidates:
        try:
            parsed = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_possible_number(parsed):
            return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    raise InvalidPhone("not a possible phone number")


def pseudonym(e164: str, key: str) -> str:
    return hmac.new(key.encode(), e164.encode(), hashlib.sha256).hexdigest()


_NUMBERISH = re.compile(r"\+?\d[\d\s().,/_-]{6,}\d")
MASK = "[numero]"


def redact_numbers(text: str, region: str = DEFAULT_REGION) -> str:
    """`text` with anything that may be a phone number masked: free text (feedback) is kept, but
    a citizen who writes a number — theirs or someone else's — must not put it in the database.
    `phonenumbers` finds numbers written the ways people write them; any run of eight or more
    digits left over is masked too (better a masked reference number than a leaked phone).
    Text with fewer than seven digits in all has no phone number to mask, and is returned as it
    is: every log line goes through here, and the matcher costs ~0.1 ms."""
    if sum(c.isdigit() for c in text) < 7:
        return text
    spans = [(m.start, m.end) for m in phonenumbers.PhoneNumberMatcher(
        text, region, leniency=phonenumbers.Leniency.POSSIBLE)]
    out, last = [], 0
    for start, end in spans:
        out.append(text[last:start])
        out.append(MASK)
        last = end
    out.append(text[last:])
    return _NUMBERISH.sub(_mask_long, "".join(out))


def _mask_long(match: re.Match[str]) -> str:
    digits = sum(len(run) for run in _DIGITS.findall(match.group()))
    return MASK if digits >= 8 else match.group()
