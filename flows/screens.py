"""USSD screens: rendering, paging and the wire format.

Rules:
- a body is at most `limit` characters (160 by default) of printable ASCII and newlines;
- options are lines `N. Label`; `98. <more>` pages forward, `0. <back>` goes back;
- page breaks do not depend on whether an error line is shown or a back line is possible: room for
  both is always reserved, so the same option keeps the same page whatever happened before.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from flows.model import MORE


@dataclass(frozen=True)
class Screen:
    end: bool
    body: str

    def wire(self) -> str:
        """The HTTP response body Africa's Talking expects."""
        return ("END " if self.end else "CON ") + self.body


@dataclass(frozen=True)
class Option:
    key: str
    label: str
    value: object  # a code, a scale value (None: don't know) or a static menu option


_PUNCTUATION = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201c": '"', "\u201d": '"', "\u201e": '"',
    "\u00ab": '"', "\u00bb": '"', "\u2013": "-", "\u2014": "-", "\u2026": "...",
    "\u0153": "oe", "\u0152": "OE", "\u00e6": "ae", "\u00c6": "AE", "\u00a0": " ",
})


def to_ascii(text: str) -> str:
    """Fold a label to printable ASCII (accents dropped, curly quotes straightened)."""
    text = text.translate(_PUNCTUATION)
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return "".join(ch for ch in folded if 32 <= ord(ch) < 127)


def option_line(option: Option) -> str:
    return f"{option.key}. {option.label}"


def paginate(
    header: list[str], options: list[Option], footer_more: str, footer_back: str, limit: int
) -> list[list[Option]]:
    """Split options into pages that fit `limit` under the worst-case header and footers.

    Every page holds at least one option (a single option that cannot fit is reported by
    `flows.check`, not hidden here).
    """
    pages: list[list[Option]] = []
    base = sum(len(line) + 1 for line in header) + len(footer_back)  # +1: newline after each line
    more = len(footer_more) + 1
    i = 0
    while i < len(options) or not pages:
        page: list[Option] = []
        used = base
        while i < len(options):
            cost = len(option_line(options[i])) + 1
            rest_after = len(options) - i - 1
            need_more = more if rest_after > 0 else 0
            if page and used + cost + need_more > limit:
                # Would the remaining options all fit without a "more" line? Only if none remain.
                break
            page.append(options[i])
            used += cost
            i += 1
        pages.append(page)
        if not options:
            break
    return pages


def render(
    lines_before: list[str], page: list[Option], more_label: str | None, back_label: str | None
) -> str:
    lines = [*lines_before, *(option_line(o) for o in page)]
    if more_label is not None:
        lines.append(f"{MORE}. {more_label}")
    if back_label is not None:
        lines.append(f"0. {back_label}")
    return "\n".join(lines)
