"""The usual phone number read the way libphonenumber reads it, without its general parser.

``phonenumbers.parse`` + ``is_valid_number`` take about 55 us a number (pure Python:
Unicode digit tables, a regex compile lookup per rule, a dozen number types tried one by
one), more than the rest of a CSV row together, and a run's numbers are nearly all
different, so a cache does not help. Most numbers are the plain kind: ASCII digits and the
separators people type (space, ``-``, ``.``, brackets), read in a known region. For those,
:func:`plain_e164` takes the same steps as libphonenumber with the same metadata, each rule
compiled once per region; for anything else (a ``+``, letters, an extension, an
international prefix, the country code typed into the number, Unicode digits) it returns
None and the caller asks libphonenumber itself. ``tests/unit/test_phone_rules.py`` holds
the two to the same answers.

The steps, as ``phonenumbers.parse(text, region)`` then ``is_valid_number`` take them
for such a number (phonenumberutil.py, 9.0):

1. the digits are the national number (no ``+``, no international prefix at its start,
   not starting with the region's country code: those go to libphonenumber);
2. the national prefix (trunk ``0``...) is stripped by ``national_prefix_for_parsing``
   (and its transform rule) unless that leaves a number the region's general pattern
   no longer matches while the whole did, and only when the rest has a possible length
   (``_maybe_strip_national_prefix_carrier_code``, ``_test_number_length``);
3. 2 to 17 digits, else not a number;
4. the region of the number among its country code's regions (``leading_digits``, else
   the first whose number types match); valid when the general pattern and one number
   type of that region match the whole number (``_number_type_helper``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass

import phonenumbers
from phonenumbers.phonemetadata import PhoneMetadata, PhoneNumberDesc

Match = Callable[[str], object]

# ASCII digits and what people put between them; nothing here can start an extension,
# a second number, a letter (vanity) number or an RFC 3966 part (phonenumberutil.py).
_PLAIN = re.compile(r"[0-9 ().\-]{1,250}").fullmatch
_NON_DIGIT = re.compile(r"[^0-9]+").sub
_TYPES = (  # _number_type_helper's order; mobile only when it is not the fixed-line pattern
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
    "fixed_line",
)
_MIN_NSN, _MAX_NSN = 2, 17


def _never(_: str) -> None:
    return None


@dataclass(frozen=True)
class Region:
    """One region's rules, compiled: what steps 1 to 4 of the module docstring read."""

    code: str  # the region ("GB")
    country_code: int
    prefix: str  # the country code as typed ("44")
    main: bool  # the main region of its country code (GB for 44, not GG)
    international: Match  # its international prefix at the start of the digits
    national: re.Pattern[str] | None  # national_prefix_for_parsing
    transform: str | None  # national_prefix_transform_rule
    general: Match  # the general pattern, whole number
    lengths: tuple[int, ...]  # the general desc's possible lengths
    local: tuple[int, ...]  # and those possible only locally
    leading_digits: str | None  # this region of a shared country code starts so
    valid: Callable[[str], bool]  # the general desc and one number type match

    @classmethod
    def of(cls, code: str) -> Region | None:
        meta = PhoneMetadata.metadata_for_region(code, None)
        if meta is None or meta.general_desc is None or meta.country_code is None:
            return None
        general = meta.general_desc
        if not general.possible_length:
            return None  # libphonenumber would index an empty list
        descs = [getattr(meta, name) for name in _TYPES]
        if not meta.same_mobile_and_fixed_line_pattern:
            descs.append(meta.mobile)
        country = meta.country_code
        national = meta.national_prefix_for_parsing
        return cls(
            code,
            country,
            str(country),
            phonenumbers.region_code_for_country_code(country) == code,
            re.compile(meta.international_prefix).match if meta.international_prefix else _never,
            re.compile(national) if national else None,
            meta.national_prefix_transform_rule or None,
            _fullmatch(general.national_number_pattern),
            tuple(general.possible_length),
            tuple(general.possible_length_local_only),
            meta.leading_digits or None,
            _validity(general, [d for d in descs if d is not None]),
        )

    def national_number(self, digits: str) -> str | None:
        """The national number of ``digits`` typed in this region (steps 1 and 2), or
        None where libphonenumber's own steps must decide."""
        if digits.startswith(self.prefix):  # the country code typed in the number too?
            twice = self._strip(digits[len(self.prefix) :])
            if twice is None:
                return None
            too_long = len(digits) > self.lengths[-1] and len(digits) not in self.local
            if too_long or (self.general(digits) is None and self.general(twice) is not None):
                # the country code's own metadata from here: this region's only if main
                return self._kept(twice) if self.main else None
        return self._kept(digits)

    def _kept(self, digits: str) -> str | None:
        """``digits`` without the national prefix when what is left has a length
        _test_number_length does not call TOO_SHORT, IS_POSSIBLE_LOCAL_ONLY or
        INVALID_LENGTH; else ``digits``."""
        stripped = self._strip(digits)
        if stripped is None:
            return None
        length, lengths = len(stripped), self.lengths
        if length in self.local or length < lengths[0]:
            return digits
        keep = length == lengths[0] or length > lengths[-1] or length in lengths[1:]
        return stripped if keep else digits

    def _strip(self, digits: str) -> str | None:
        """_maybe_strip_national_prefix_carrier_code's number: the national prefix (by its
        transform rule, if any) taken off, unless the general pattern matched the
        whole and does not match the rest; None where libphonenumber would fail."""
        pattern = self.national
        if pattern is None or not digits:
            return digits
        found = pattern.match(digits)
        if found is None:
            return digits
        groups = found.groups()
        if self.transform and not groups:
            return None  # libphonenumber would index a group that is not there
        if not self.transform or groups[-1] is None:
            stripped = digits[found.end() :]
        else:
            stripped = pattern.sub(self.transform, digits, count=1)
        if self.general(digits) is not None and self.general(stripped) is None:
            return digits
        return stripped


def _fullmatch(pattern: str | None) -> Match:
    return re.compile(pattern).fullmatch if pattern else _never


def _validity(general: PhoneNumberDesc, descs: list[PhoneNumberDesc]) -> Callable[[str], bool]:
    """Whether a national number is of the general desc and of one of ``descs``' types:
    for each length, one regex (the general pattern as a lookahead, then the patterns of
    the types that allow that length as one alternation, which fullmatch tries in turn)."""
    by_length: dict[int, Match] = {}
    for length in range(_MIN_NSN, _MAX_NSN + 1):
        if general.possible_length and length not in general.possible_length:
            continue
        patterns = [
            d.national_number_pattern
            for d in descs
            if d.national_number_pattern and (not d.possible_length or length in d.possible_length)
        ]
        if patterns and general.national_number_pattern:
            types = "|".join(f"(?:{p})" for p in patterns)
            whole = rf"(?=(?:{general.national_number_pattern})\Z)(?:{types})"
            by_length[length] = re.compile(whole).fullmatch

    def valid(number: str) -> bool:
        return by_length.get(len(number), _never)(number) is not None

    return valid


@functools.cache
def region(code: str) -> Region | None:
    """The compiled rules of a region libphonenumber knows (None for others)."""
    return Region.of(code)


Step = Callable[[str], "bool | None"]  # a decision on a number, or None: the next step's


@functools.cache
def _country(country_code: int) -> Callable[[str], bool]:
    """is_valid_number for a national number of ``country_code``: the number's region
    among the code's regions, in libphonenumber's order (one with leading digits is the
    number's when it starts with them; one without, when the number is of its types),
    then whether the number is of one of that region's types."""
    codes = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(country_code, ())
    regions = [r for r in map(region, codes) if r is not None]
    if len(codes) == 1:  # the region without a check
        return regions[0].valid if regions else _invalid
    steps: list[Step] = []
    run: list[Region] = []  # regions told by leading digits, one after another
    for candidate in [*regions, None]:
        if candidate is not None and candidate.leading_digits is not None:
            run.append(candidate)
            continue
        if run:
            steps.append(_by_leading(run))
            run = []
        if candidate is not None:
            steps.append(_if_valid(candidate))

    def valid(national: str) -> bool:
        for step in steps:
            if (decided := step(national)) is not None:
                return decided
        return False

    return valid


def _invalid(_: str) -> bool:
    return False


def _if_valid(candidate: Region) -> Step:
    """A region without leading digits: the number's when it is of the region's types."""
    valid = candidate.valid

    def step(national: str) -> bool | None:
        return True if valid(national) else None

    return step


def _by_leading(run: list[Region]) -> Step:
    """Regions with leading digits, in a row: the first whose digits start the number is
    its region (one regex: an alternation matches its first alternative that can)."""
    named = {f"r{i}": r for i, r in enumerate(run)}
    either = "|".join(f"(?P<{name}>{r.leading_digits})" for name, r in named.items())
    match = re.compile(either).match

    def step(national: str) -> bool | None:
        found = match(national)
        return None if found is None else named[str(found.lastgroup)].valid(national)

    return step


def plain_e164(text: str, code: str) -> str | None:
    """E.164 of ``text`` read in region ``code`` ('' when libphonenumber would say it is
    not a valid number), or None when ``text`` is not of the plain kind (the module
    docstring): then only libphonenumber can say."""
    rules = region(code) if _PLAIN(text) else None
    if rules is None:
        return None
    digits = _NON_DIGIT("", text)
    if len(digits) < 3 or rules.international(digits):
        return None
    national = rules.national_number(digits)
    if national is None:
        return None
    if not _MIN_NSN <= len(national) <= _MAX_NSN:
        return ""
    return f"+{rules.prefix}{national}" if _country(rules.country_code)(national) else ""
