"""The staff pages' French catalog covers every message of the code and templates, and the
compiled catalog the gateway loads is the one the .po file says."""

from __future__ import annotations

import io
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
FRENCH = ROOT / "gateway" / "translations" / "fr" / "LC_MESSAGES"


def _extracted() -> set[str]:
    method_map = [("gateway/**.py", "python"), ("gateway/templates/**.html", "jinja2")]
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map=method_map, keywords={"_": None, "gettext": None}):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_message_has_a_french_translation() -> None:
    with (FRENCH / "messages.po").open("rb") as fh:
        catalog = read_po(fh, locale="fr")
    translated = {m.id: m.string for m in catalog if m.id}
    missing = sorted(_extracted() - set(translated))
    assert not missing, f"run pybabel extract/update (README): {missing}"
    empty = sorted(k for k, v in translated.items() if not v)
    assert not empty, f"untranslated: {empty}"


def test_the_compiled_catalog_matches_the_po_file() -> None:
    with (FRENCH / "messages.po").open("rb") as fh:
        po = {m.id: m.string for m in read_po(fh, locale="fr") if m.id}
    with (FRENCH / "messages.mo").open("rb") as fh:
        mo = {m.id: m.string for m in read_mo(io.BytesIO(fh.read())) if m.id}
    assert mo == po, "run `pybabel compile -d gateway/translations` (README)"
