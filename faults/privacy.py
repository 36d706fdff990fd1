"""Finding a phone number in text, in any of the forms people and systems write it.

Rules:
- a number is found when a run of digits is exactly one of its forms (`+243…`, `243…`,
  `00243…`, `0…` or the nine national digits), or when digits separated by spaces, dots, dashes
  or brackets (`+243 99 123 4567`, `099-123-4567`) join into one; a longer run of digits that
  merely contains one (a timestamp, a hash) is not a number;
- every place searched is named in what is found, so a leak says where it is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_RUN = re.compile(r"\d+")
_SPACED = re.compile(r"\+?\(?\d[\d .\-()]{7,24}\d")


def digit_forms(phone: str) -> set[str]:
    """The digit-only forms of an E.164 DRC number (+243 and nine digits)."""
    assert phone.startswith("+243") and len(phone) == 13, phone
    national = phone[4:]
    return {national, "0" + national, "243" + national, "00243" + national}


def written_forms(phone: str) -> list[str]:
    """How the number may be written: what the scan must recognise, and what tests send."""
    national = phone[4:]
    spaced = f"{national[:2]} {national[2:5]} {national[5:]}"
    return [phone, phone[1:], "00" + phone[1:], "0" + national, national, f"+243 {spaced}",
            f"0{spaced}", f"00243 {spaced}", f"0{national[:2]}-{national[2:5]}-{national[5:]}"]


class Scanner:
    def __init__(self, phones: Iterable[str]) -> None:
        self.forms: dict[str, str] = {}
        for phone in phones:
            for form in digit_forms(phone):
                self.forms[form] = phone

    def numbers_in(self, text: str) -> set[str]:
        found = {self.forms[m.group()] for m in _RUN.finditer(text) if m.group() in self.forms}
        for match in _SPACED.finditer(text):
            digits = re.sub(r"\D", "", match.group())
            if digits in self.forms:
                found.add(self.forms[digits])
        return found

    def scan(self, where: str, text: str) -> list[str]:
        """One line per number found in `text`, naming `where`."""
        return [f"{where}: {phone}" for phone in sorted(self.numbers_in(text))]
