"""Phone numbers as people type them: e164() and every preset give what libphonenumber
says, for the shapes seen in the wild and for libphonenumber's own example numbers.

The expected values are never typed by hand: each case names the number its writer meant
(or the example number libphonenumber gives), and ``phonenumbers`` says its E.164 form
and whether it is valid at all.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import phonenumbers
import pytest

from runner.rows.build import RowBuilder
from runner.rows.columns import compile_expr
from runner.rows.presets import PRESETS, PresetRows
from runner.spec.segment import Column

PNF = phonenumbers.PhoneNumberFormat


class Shape(NamedTuple):
    prefix: Any
    number: Any
    country: str  # the contact's profile.userDetails.country
    meant: str | None  # the number written unambiguously; None: nothing can read it


# The measured shapes of issue 22 first, then more of the same kinds.
SHAPES = [
    Shape("+49", "+49 (0)30 1234567", "", "+49 30 1234567"),  # code twice, (0) trunk
    Shape("0033", "06 12 34 56 78", "", "+33 6 12 34 56 78"),  # 00 prefix, trunk 0
    Shape("+91", "+91 98765 43210", "", "+91 98765 43210"),  # code twice
    Shape("", "0044 7911 123456", "", "+44 7911 123456"),  # 00, no prefix, no country
    Shape("", "(020) 7946-0958", "GB", "+44 20 7946 0958"),  # national, country known
    Shape("1", "555-0100", "", "+1 555 0100"),  # too short: not valid
    Shape("91", "09876543210", "IN", "+91 98765 43210"),  # trunk 0 after the prefix
    Shape("+44", "07911 123456", "GB", "+44 7911 123456"),
    Shape("44", "447911123456", "GB", "+44 7911 123456"),  # code twice, no '+'
    Shape("", "tel:+1-202-555-0143", "", "+1 202 555 0143"),  # RFC 3966
    Shape("1", "(415) 555-2671", "US", "+1 415 555 2671"),
    Shape("", "+55 81 98765-4321", "", "+55 81 98765 4321"),  # its own '+'
    Shape("971", "050 123 4567", "AE", "+971 50 123 4567"),
    Shape("", "7911 123456", "GB", "+44 7911 123456"),  # no prefix: the contact's country
    Shape("", "9876543210", "", None),  # no prefix, no country: nothing to read it in
    Shape("44", "+33 6 12 34 56 78", "GB", "+33 6 12 34 56 78"),  # the number's '+' wins
    Shape(1, 4155552671, "", "+1 415 555 2671"),  # numbers as JSON numbers
    Shape("+44", "０７９１１ １２３４５６", "GB", "+44 7911 123456"),  # full-width digits
    Shape("", "011 44 7911 123456", "US", "+44 7911 123456"),  # US international prefix
    Shape("49", "030.1234567", "", "+49 30 1234567"),
    Shape("+44", "+44 (0) 20 7946 0958 ext. 12", "GB", "+44 20 7946 0958"),
    Shape("", "0091-98765-43210", "GB", "+91 98765 43210"),  # 00 from a GB contact
    Shape("44", "01632 96", "GB", "+44 1632 96"),  # too short
    Shape("1", "212 555 01234 5678", "", "+1 212 555 01234 5678"),  # too long
    Shape("999", "1234567", "", "+999 1234567"),  # no such country code
    Shape("", "n/a", "GB", "+44 n/a"),  # not a number
]


def oracle(meant: str | None) -> str:
    """What libphonenumber makes of the number meant: E.164 if valid, else ''."""
    if meant is None:
        return ""
    try:
        parsed = phonenumbers.parse(meant, None)
    except phonenumbers.NumberParseException:
        return ""
    return (
        phonenumbers.format_number(parsed, PNF.E164) if phonenumbers.is_valid_number(parsed) else ""
    )


def meant_by(record: dict[str, Any]) -> str | None:
    """The number a contact's ``{prefix, number}`` stands for when its prefix has digits
    (every sandbox contact's), written unambiguously: ``+<code> <number>``."""
    phone = record["profile"]["userDetails"]["contact"]["phone"]
    code = "".join(ch for ch in str(phone["prefix"]) if ch.isdigit()).lstrip("0")
    return f"+{code} {phone['number']}" if code else None


def contact(prefix: Any, number: Any, country: str, name: str = "Jane Doe") -> dict[str, Any]:
    details = {
        "name": name,
        "country": country,
        "contact": {"email": "jane@example.com", "phone": {"prefix": prefix, "number": number}},
    }
    return {"profile": {"userDetails": details}}


# -- libphonenumber's own example numbers, written as people write them -------------
REGIONS = ("US", "GB", "DE", "FR", "IN", "BR", "AE", "AU", "JP", "ZA")
TYPES = (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE)


def _written(region: str, example: phonenumbers.PhoneNumber) -> list[Shape]:
    code = str(example.country_code)
    e164 = phonenumbers.format_number(example, PNF.E164)
    national = phonenumbers.format_number(example, PNF.NATIONAL)
    international = phonenumbers.format_number(example, PNF.INTERNATIONAL)
    shapes = [
        Shape("", e164, "", e164),
        Shape("", international, "", e164),
        Shape("", phonenumbers.format_number(example, PNF.RFC3966), "", e164),  # tel:+...
        Shape("", "00" + e164[1:], "", e164),  # 00 and no region: the ITU prefix
        Shape("", national, region, e164),  # the contact's country
        Shape(code, national, "", e164),  # the prefix's country
        Shape("+" + code, international, "", e164),  # the code twice
        Shape("00" + code, str(example.national_number), "", e164),
    ]
    trunk = phonenumbers.PhoneMetadata.metadata_for_region(region).national_prefix
    if trunk == "0":  # "+44 (0)20 ...": the trunk 0 in brackets after the code
        rest = international.split(" ", 1)[1]
        shapes.append(Shape(code, f"+{code} (0){rest}", "", e164))
    return shapes


EXAMPLES = [
    shape
    for region in REGIONS
    for kind in TYPES
    if (example := phonenumbers.example_number_for_type(region, kind)) is not None
    for shape in _written(region, example)
]
CASES = SHAPES + EXAMPLES


def test_the_cases_cover_what_the_issue_asks() -> None:
    assert len(SHAPES) >= 18
    # 19 distinct example numbers (the US gives one number for both types), each written
    # in eight or nine ways.
    assert len({s.meant for s in EXAMPLES}) >= 19 and len(EXAMPLES) >= 150
    assert {
        phonenumbers.region_code_for_number(phonenumbers.parse(s.meant)) for s in EXAMPLES
    } >= set(REGIONS)
    assert any(oracle(s.meant) == "" for s in SHAPES)  # the invalid ones are there too


@pytest.mark.parametrize("shape", CASES, ids=lambda s: f"{s.prefix}|{s.number}|{s.country}")
def test_e164_column_says_what_libphonenumber_says(shape: Shape) -> None:
    builder = RowBuilder((Column("phone", "e164(profile.userDetails.contact.phone)"),))
    expected = oracle(shape.meant)
    assert builder.columns([contact(shape.prefix, shape.number, shape.country)]) == [[expected]]
    assert builder.invalid_phones == (0 if expected else 1)


# A preset's phone as its platform wants it: E.164, with or without the '+'.
WITH_PLUS = {"google_customer_match", "klaviyo", "hubspot", "mailchimp"}


@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_preset_says_what_libphonenumber_says(preset: str) -> None:
    spec = PRESETS[preset]
    rows = PresetRows(spec, hashed=False)
    (column,) = [i for i, f in enumerate(spec.fields) if f.header.lower().startswith("phone")]
    records = [contact(s.prefix, s.number, s.country) for s in CASES]
    got = rows.columns(records)[column]
    expected = [oracle(s.meant) for s in CASES]
    if preset not in WITH_PLUS:
        expected = [e.lstrip("+") for e in expected]
    assert got == expected
    assert rows.invalid_phones == expected.count("")


def test_a_region_argument_and_the_segment_default() -> None:
    record = contact("", "020 7946 0958", "", name="x")
    record["profile"]["userDetails"]["attributes"] = [{"key": "cc", "value": "GB"}]
    gb = oracle("+44 20 7946 0958")
    assert compile_expr('e164(profile.userDetails.contact.phone, attr("cc"))')(record) == gb
    assert compile_expr('e164(profile.userDetails.contact.phone, "GB")')(record) == gb
    assert compile_expr("e164(profile.userDetails.contact.phone)")(record) == ""
    builder = RowBuilder((Column("p", "e164(profile.userDetails.contact.phone)"),), "GB")
    assert builder.columns([record]) == [[gb]]  # output.phone_region
    # The contact's own country comes before the segment's default.
    french = contact("", "06 12 34 56 78", "FR")
    assert builder.columns([french]) == [[oracle("+33 6 12 34 56 78")]]


def test_an_override_column_goes_through_the_same_rule() -> None:
    extra = (Column("Phone Number", 'attr("mobile")'),)
    rows = PresetRows(PRESETS["klaviyo"], False, extra)
    record = contact("", "", "DE")
    record["profile"]["userDetails"]["attributes"] = [{"key": "mobile", "value": "030 1234567"}]
    assert rows.columns([record])[1] == [oracle("+49 30 1234567")]
