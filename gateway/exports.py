"""Tables as files: CSV (UTF-8 with a BOM, so Excel reads accents) and XLSX (openpyxl).

Rules: control characters (a GSM escape in an SMS) become spaces; a cell that a spreadsheet
would run as a formula (text starting with = + - @, a tab or a carriage return: citizens'
feedback is free text) is written as text with a leading apostrophe; numbers stay numbers; times
are in Africa/Lubumbashi; None is an empty cell. No number is ever added here: tables come from
pages that never hold one.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from scoring.periods import LOCAL_TZ

_FORMULA = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Table:
    name: str
    headers: Sequence[str]
    rows: Sequence[Sequence[Any]]


def _cell(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return value
    if isinstance(value, datetime):  # in Goma/Bunia time, as on the pages
        return value.astimezone(LOCAL_TZ).isoformat(timespec="minutes")
    text = ILLEGAL_CHARACTERS_RE.sub(" ", str(value))  # control characters: XML cannot hold them
    return "'" + text if text.startswith(_FORMULA) else text


def to_csv(table: Table) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(table.headers)
    for row in table.rows:
        writer.writerow(["" if (c := _cell(v)) is None else c for v in row])
    return b"\xef\xbb\xbf" + out.getvalue().encode()


def to_xlsx(table: Table) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet(table.name[:31])
    sheet.append(list(table.headers))
    for row in table.rows:
        sheet.append([_cell(v) for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
