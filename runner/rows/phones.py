"""Phone numbers as people type them -> E.164, by libphonenumber (the ``phonenumbers`` package).

The one phone rule of the runner, used by the ``e164()`` column expression and by every
preset. Where the country comes from, in order:

1. the contact's ``prefix`` when it has digits (``91``, ``+44``, ``0033``);
2. a ``+`` (or ``tel:+``) in the number itself;
3. the contact's own country (``profile.userDetails.country``, or the region the
   expression names: ``e164(phone, attr("country"))``);
4. the segment's ``output.phone_region``.

With the region known, libphonenumber reads the number as a person in that country would
dial it: the trunk ``0`` (also written ``(0)``), the country's international prefix
(``00``, ``011``...) and a country code typed twice all come out right. A number it says
is not valid (wrong length, unassigned range, no country to read it in) is left empty and
counted (``invalid_phones``): never written half-right.

>>> phones = Phones()
>>> phones.e164({"prefix": "+49", "number": "+49 (0)30 1234567"}, None)
'+49301234567'
>>> phones.e164({"prefix": "1", "number": "555-0100"}, None), phones.invalid
('', 1)
"""

from __future__ import annotations

import functools
import re
from typing import Any

import phonenumbers

from runner.rows.phone_rules import plain_e164

_NON_DIGITS = re.compile(r"[^0-9]+")
# ITU-T E.164's recommended international prefix, dialled from most of the world: with no
# region to read a number in, a leading 00 is taken as the "+" it stands for.
_ITU_PREFIX = "00"
# UK is not an ISO 3166-1 code, but it is what people (and the API's samples) write.
_ALIASES = {"UK": "GB"}
_E164 = phonenumbers.PhoneNumberFormat.E164


def region_code(value: Any) -> str:
    """A region libphonenumber knows, from a country as contacts carry it; '' otherwise.

    >>> region_code(" gb "), region_code("UK"), region_code("Germany")
    ('GB', 'GB', '')
    """
    if type(value) is not str:
        return ""
    code = value.strip().upper()
    code = _ALIASES.get(code, code)
    return code if code in phonenumbers.SUPPORTED_REGIONS else ""


def to_e164(country_code: str, number: str, region: str) -> str:
    """E.164 text of ``number`` ('' when libphonenumber says it is not a valid number).

    ``country_code``: the contact's prefix, digits only ('' for none); ``region``: where to
    read a number without a country code ('' for nowhere). The usual number is read by
    :func:`~runner.rows.phone_rules.plain_e164` (libphonenumber's rules, about a tenth of
    its parser's cost); any other by the parser, cached.
    """
    text = number.strip()
    if len(country_code) > 3:  # no country code is longer: this prefix is not one
        return ""
    if country_code:
        region = _region_of_code(country_code)
    if region and (plain := plain_e164(text, region)) is not None:
        return plain
    return _parsed(country_code, text, region)


@functools.lru_cache(maxsize=1 << 16)
def _region_of_code(country_code: str) -> str:
    """The main region of a country code ('ZZ' for none, '001' for a non-geographic one)."""
    return phonenumbers.region_code_for_country_code(int(country_code))


@functools.lru_cache(maxsize=1 << 14)
def _parsed(country_code: str, text: str, region: str) -> str:
    """:func:`to_e164` by libphonenumber's parser. Cached: what is not the usual number
    comes in few shapes, and parsing costs about 55 us."""
    if country_code and region in (phonenumbers.UNKNOWN_REGION, "001"):
        if not text.startswith("+"):
            # A code with no single region (+800, +882) or none at all: say it with a '+'.
            text, region = f"+{country_code} {text}", ""
    elif not region and text.startswith(_ITU_PREFIX):
        text = "+" + text[len(_ITU_PREFIX) :]
    try:
        parsed = phonenumbers.parse(text, region or None)
    except phonenumbers.NumberParseException:
        return ""
    return phonenumbers.format_number(parsed, _E164) if phonenumbers.is_valid_number(parsed) else ""


@functools.lru_cache(maxsize=1 << 10)
def _code_digits(prefix: str) -> str:
    """A contact's prefix as the digits of a country code ("0033", "+44", "91")."""
    return _NON_DIGITS.sub("", prefix).lstrip("0")


class Phones:
    """One export's phone normaliser: E.164 per contact phone, the invalid ones counted.

    ``default_region``: ``output.phone_region`` (validated when the segment loads), for
    contacts whose phone and country say nothing.
    """

    def __init__(self, default_region: str = "") -> None:
        self.default_region = default_region
        self.invalid = 0  # numbers given but not valid: left empty

    def e164(self, phone: Any, country: Any = None) -> str:
        """``+`` and digits, or '' (counted in :attr:`invalid` when a number was given).

        ``phone``: the contact's ``{prefix, number}``, or the number as text;
        ``country``: the contact's country (ISO 3166-1 alpha-2), if any.
        """
        if type(phone) is dict:
            prefix, number = phone.get("prefix"), phone.get("number")
        else:
            prefix, number = None, phone
        if type(number) is not str:
            if number is None or isinstance(number, bool) or not isinstance(number, str | int):
                return ""
            number = str(number)
        if not number.strip():
            return ""
        code = _code_digits(prefix if type(prefix) is str else str(prefix or ""))
        # A country code says the region: the contact's country is read only without one.
        region = "" if code else region_code(country) or self.default_region
        found = to_e164(code, number, region)
        if not found:
            self.invalid += 1
        return found
