"""Phone numbers: one E.164 form per person, then only an HMAC pseudonym; nothing leaks."""

from __future__ import annotations

import hashlib
import hmac
import re

import pytest

from gateway.phones import InvalidPhone, normalise, pseudonym, redact_numbers

KEY = "k" * 40


@pytest.mark.parametrize(
    "raw",
    [
        "+243 97 000 0001",
        "00243970000001",
        "0970000001",
        "243970000001",
        "+243-970-000-001",
        "+243970000001",
        "  +243 970 000 001  ",
        "00243 97 000 0001",
        "243 97 000 0001",
        "(097) 000-0001",
    ],
)
def test_every_written_form_normalises_to_one_e164(raw):
    assert normalise(raw) == "+243970000001"


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("0812345678", "+243812345678"),  # Vodacom
        ("+243 99 123 4567", "+243991234567"),  # Airtel
        ("00243 84 123 4567", "+243841234567"),  # Orange
        ("0901234567", "+243901234567"),  # Africell
        ("+256 772 123456", "+256772123456"),  # a Ugandan SIM near the border stays Ugandan
    ],
)
def test_networks_and_foreign_numbers(raw, e164):
    assert normalise(raw) == e164


@pytest.mark.parametrize(
    "raw",
    ["", "   ", "abc", "12", "0", "+243", "99999", "9" * 40, "+243 97 000 0001 " * 3, "STOP"],
)
def test_garbage_is_refused_without_repeating_it(raw):
    with pytest.raises(InvalidPhone) as caught:
        normalise(raw)
    error = caught.value
    assert isinstance(error, ValueError)
    text = str(error) + repr(error.args)
    assert text.strip()
    if raw.strip():
        assert raw.strip() not in text
    assert not re.search(r"\d{2}", text), text


def test_a_valid_number_never_appears_in_an_error_either():
    raw = "+243 97 000 0001" + "9" * 20  # too long: refused
    with pytest.raises(InvalidPhone) as caught:
        normalise(raw)
    assert not re.search(r"\d", str(caught.value))


def test_pseudonym_is_an_hmac_sha256_in_hex():
    value = pseudonym("+243970000001", KEY)
    assert re.fullmatch(r"[0-9a-f]{64}", value)
    assert "243970000001" not in value
    # Stable: the same person on every call, and for every written form of their number.
    assert pseudonym("+243970000001", KEY) == value
    assert {pseudonym(normalise(raw), KEY) for raw in ("0970000001", "+243 97 000 0001",
                                                        "00243970000001")} == {value}


def test_pseudonym_depends_on_the_key_and_the_number():
    value = pseudonym("+243970000001", KEY)
    assert pseudonym("+243970000001", KEY + "2") != value
    assert pseudonym("+243970000002", KEY) != value
    # The keyed hash of DESIGN section 5, not a bare SHA-256 anyone could compute from a number.
    assert value == hmac.new(KEY.encode(), b"+243970000001", hashlib.sha256).hexdigest()
    assert value != hashlib.sha256(b"+243970000001").hexdigest()


@pytest.mark.parametrize(("text", "expected"), [
    ("POST /at/***/ussd 200 12.3ms", "POST /at/***/ussd 200 12.3ms"),  # six digits: untouched
    ("police 3 2 Goma 2026", "police 3 2 Goma 2026"),
    ("appelez +243 99 123 4567 vite", "appelez [numero] vite"),
    ("0991234567", "[numero]"),
    ("00243991234567", "[numero]"),
    ("099-123-45-67 svp", "[numero] svp"),
    ("(099) 123 45 67", "[numero]"),
    ("mon 099  123  4567", "mon [numero]"),
    ("ref 12345678", "ref [numero]"),  # eight digits or more: masked whatever they are
    ("0812\u2013345\u2013678", "[numero]"),  # en dashes, tildes, brackets: still a number
    ("0812~345~678 ou 0812[345]678", "[numero] ou [numero]"),
])
def test_redact_numbers_masks_phone_numbers_and_leaves_short_figures(text, expected):
    assert redact_numbers(text) == expected
