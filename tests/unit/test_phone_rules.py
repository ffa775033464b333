"""The plain number's fast reading (runner/rows/phone_rules.py) says what libphonenumber
says: ``phonenumbers.parse`` + ``is_valid_number`` + E.164 is the oracle for every answer,
on libphonenumber's own example numbers of every region and type, written the ways people
write them, and on random digits; the fast reading must also take the usual numbers
(a test that it never answers would pass on anything)."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from typing import Any

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.rows.phone_rules import plain_e164
from runner.rows.phones import Phones, to_e164
from runner.sandbox.data import make_contact

REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)
TYPES = [
    getattr(phonenumbers.PhoneNumberType, name)
    for name in dir(phonenumbers.PhoneNumberType)
    if name.isupper()
]


def libphonenumber(text: str, region: str) -> str:
    """What libphonenumber makes of ``text`` read in ``region``: E.164, or '' (not valid)."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_valid_number(number):
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def written(digits: str, region: str, rng: random.Random) -> Iterator[str]:
    """``digits`` (a national significant number) as people type it in ``region``: bare,
    after a trunk prefix, after the country code, spaced and bracketed, a digit off."""
    code = str(phonenumbers.country_code_for_region(region))
    yield digits
    yield "0" + digits
    yield code + digits
    yield code + "0" + digits
    yield f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"
    yield ".".join(digits[i : i + 2] for i in range(0, len(digits), 2))
    yield digits[:-1]
    yield digits + str(rng.randrange(10))
    at = rng.randrange(len(digits))
    yield digits[:at] + str((int(digits[at]) + 1) % 10) + digits[at + 1 :]


def example_numbers() -> Iterator[tuple[str, str]]:
    rng = random.Random(7)
    for region in REGIONS:
        for kind in TYPES:
            example = phonenumbers.example_number_for_type(region, kind)
            if example is not None:
                nsn = phonenumbers.national_significant_number(example)
                yield from ((text, region) for text in written(nsn, region, rng))


def test_example_numbers_of_every_region_and_type_read_as_libphonenumber_reads_them() -> None:
    cases = sorted(set(example_numbers()))
    answered = 0
    for text, region in cases:
        fast = plain_e164(text, region)
        if fast is not None:
            answered += 1
            assert fast == libphonenumber(text, region), (text, region)
    # The fast reading takes most of them (only the region's international prefix at the
    # start, or a rule it leaves to libphonenumber, sends one on).
    assert len(cases) > 10_000
    assert answered > 0.9 * len(cases)


digits = st.text("0123456789", min_size=1, max_size=19)
separators = st.sampled_from(["", " ", "-", ".", "(", ")", " - ", "(0)"])


@settings(max_examples=500, deadline=None)
@given(st.lists(st.tuples(separators, digits), min_size=1, max_size=4), st.sampled_from(REGIONS))
def test_any_digits_and_separators_read_as_libphonenumber_reads_them(
    parts: list[tuple[str, str]], region: str
) -> None:
    text = "".join(sep + run for sep, run in parts)
    fast = plain_e164(text, region)
    if fast is not None:
        assert fast == libphonenumber(text, region)


@pytest.mark.parametrize(
    ("text", "region"),
    [
        ("+44 7911 123456", "GB"),  # a '+': its own country code
        ("0044 7911 123456", "GB"),  # the region's international prefix
        ("011 44 7911 123456", "US"),
        ("1-800-FLOWERS", "US"),  # letters
        ("020 7946 0958 ext. 12", "GB"),  # an extension
        ("０７９１１ １２３４５６", "GB"),  # full-width digits
        ("tel:+1-202-555-0143", "US"),
        ("12", "GB"),  # two digits: libphonenumber's own rule for them
        ("07911 123456", "ZZ"),  # no region
    ],
)
def test_numbers_of_other_kinds_go_to_libphonenumber(text: str, region: str) -> None:
    assert plain_e164(text, region) is None
    assert to_e164("", text, region) == libphonenumber(text, region)


def sandbox_phones(count: int) -> list[tuple[Any, str]]:
    rng = random.Random(3)
    anchor = dt.datetime(2026, 11, 25, tzinfo=dt.UTC)
    details = [make_contact(rng, anchor, "c")["profile"]["userDetails"] for _ in range(count)]
    return [(d["contact"]["phone"], d["country"]) for d in details]


def test_a_run_of_usual_numbers_never_asks_the_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sandbox's contacts (a prefix and a number, some with a trunk 0 or the code typed
    twice): the same E.164 as libphonenumber, and not one call of its parser."""
    phones = sandbox_phones(2000)
    expected = []
    for phone, _country in phones:
        code = phone["prefix"].lstrip("+")
        region = phonenumbers.region_code_for_country_code(int(code))
        expected.append(libphonenumber(phone["number"], region))
    parsed = []
    real_parse = phonenumbers.parse

    def counting(*args: Any, **kwargs: Any) -> Any:
        parsed.append(args)
        return real_parse(*args, **kwargs)

    monkeypatch.setattr(phonenumbers, "parse", counting)
    normaliser = Phones()
    assert [normaliser.e164(phone, country) for phone, country in phones] == expected
    assert parsed == []
    assert normaliser.invalid == expected.count("")
    assert 0 < normaliser.invalid < len(phones)
