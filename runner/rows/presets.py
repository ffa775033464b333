"""Presets: the files ad and e-mail platforms import as they are.

``output.preset: klaviyo`` (or ``meta_custom_audience``, ``google_customer_match``,
``tiktok_custom_audience``, ``hubspot``, ``mailchimp``) sets the columns the
platform documents, with its exact headers and normalisation, SHA-256 hex where
the platform accepts hashed data (``output.hash``, default per platform), and
leaves out (and counts) rows with nothing the platform can match on. Each
preset names the help page it follows in ``source``.

>>> rows = PresetRows(PRESETS["klaviyo"], hashed=False)
>>> rows.header
['Email', 'Phone Number', 'First Name', 'Last Name', 'Country']
>>> phone = {"prefix": "+44", "number": "07911 123456"}
>>> contact = {"profile": {"userDetails": {"name": "Zoë  Ångström", "country": "gb",
...     "contact": {"email": " Zoe@Example.COM ", "phone": phone}}}}
>>> [col[0] for col in rows.columns([contact])]
['zoe@example.com', '+447911123456', 'Zoë', 'Ångström', 'GB']
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from runner.rows.build import RowBuilder, Rows
from runner.rows.columns import compile_many
from runner.rows.names import first_name, last_name, letters, lower_words, without_titles
from runner.rows.phones import Phones

if TYPE_CHECKING:
    from runner.spec.segment import Column, OutputSpec

EMAIL = "profile.userDetails.contact.email"
PHONE = "profile.userDetails.contact.phone"
NAME = "coalesce(profile.userDetails.name, profile.userDetails.userProvidedName)"
CITY = "profile.userDetails.city"
COUNTRY = "profile.userDetails.country"
ZIP = 'attr("zip")'

Normalise = Callable[[Any], str]


# -- normalisation ---------------------------------------------------------
def email(value: Any) -> str:
    """Trimmed and lower-cased; '' for anything without an '@'."""
    if type(value) is not str:
        return ""
    text = value.strip().lower()
    return text if "@" in text else ""


def email_without_tag(value: Any) -> str:
    """TikTok: also drops a '+tag' before the '@' (``jane+ads@x.com`` -> ``jane@x.com``)."""
    text = email(value)
    local, _, domain = text.rpartition("@")
    return local.split("+", 1)[0] + "@" + domain if "+" in local else text


def plus_less(e164: Any) -> str:
    """E.164 without its '+' (Meta, TikTok): ``+447911123456`` -> ``447911123456``."""
    return e164[1:] if isinstance(e164, str) and e164.startswith("+") else ""


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def country(value: Any) -> str:
    """ISO 3166-1 alpha-2 in capitals; UK is GB; '' for anything else."""
    code = value.strip().upper() if isinstance(value, str) else ""
    code = "GB" if code == "UK" else code
    return code if len(code) == 2 and code.isascii() and code.isalpha() else ""


def zip_code(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def sha256_hex(text: str) -> str:
    """SHA-256 of the UTF-8 text, lower-case hex; '' stays '' (an empty value is not hashed)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest() if text else ""


# -- the presets -----------------------------------------------------------
@dataclass(frozen=True)
class Field:
    header: str
    source: str  # a column expression, as in output.columns
    normalise: Normalise
    hashable: bool = True  # hashed when the file is hashed
    identifier: bool = False  # a row needs at least one identifier to be kept
    hashed_header: str = ""  # the header when hashed, if the platform names it differently
    safe: bool = False  # its normalised text can never start like a formula
    phone: bool = False  # read through e164(): the source, or the segment's own column


@dataclass(frozen=True)
class Preset:
    name: str
    fields: tuple[Field, ...]
    hash_default: bool
    hash_allowed: bool
    source: str  # the platform's help page this preset follows
    # The fewest rows the platform documents it can use, and where it says so (0: none).
    minimum: int = 0
    minimum_source: str = ""

    def headers(self, hashed: bool) -> list[str]:
        return [f.hashed_header if hashed and f.hashed_header else f.header for f in self.fields]


def _ad_platform(
    name: str, fields: Sequence[Field], source: str, minimum: tuple[int, str] = (0, "")
) -> Preset:
    return Preset(name, tuple(fields), True, True, source, *minimum)


def _crm(name: str, fields: Sequence[Field], source: str) -> Preset:
    plain = tuple(replace(f, hashable=False, hashed_header="") for f in fields)
    return Preset(name, plain, hash_default=False, hash_allowed=False, source=source)


def _pipe(*steps: Callable[[Any], Any]) -> Normalise:
    def run(value: Any) -> str:
        for step in steps:
            value = step(value)
        return str(value)

    return run


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        _ad_platform(
            "meta_custom_audience",
            [
                Field("email", EMAIL, email, identifier=True),
                Field("phone", PHONE, plus_less, identifier=True, safe=True, phone=True),
                Field("fn", NAME, _pipe(without_titles, first_name, letters), safe=True),
                Field("ln", NAME, _pipe(without_titles, last_name, letters), safe=True),
                Field("ct", CITY, _pipe(_text, letters), safe=True),
                Field("country", COUNTRY, _pipe(country, str.lower), safe=True),
            ],
            "https://www.facebook.com/business/help/2082575038703844 and "
            "https://developers.facebook.com/docs/marketing-api/audiences/guides/custom-audiences",
        ),
        _ad_platform(
            "google_customer_match",
            [
                Field("Email", EMAIL, email, identifier=True),
                Field("Phone", PHONE, _text, identifier=True, safe=True, phone=True),
                Field("First Name", NAME, _pipe(without_titles, first_name, lower_words)),
                Field("Last Name", NAME, _pipe(without_titles, last_name, lower_words)),
                Field("Country", COUNTRY, country, hashable=False, safe=True),
                Field("Zip", ZIP, zip_code, hashable=False),
            ],
            "https://support.google.com/google-ads/answer/7659867 and "
            "https://support.google.com/google-ads/answer/7476159",
            # "Google Search Network must have a minimum of 100 active visitors or users
            # ... Customer lists also have the same eligibility" (and YouTube likewise).
            (100, "https://support.google.com/google-ads/answer/7476585"),
        ),
        _ad_platform(
            "tiktok_custom_audience",
            [
                Field("Email", EMAIL, email_without_tag, True, True, "Email_SHA256"),
                Field("Phone", PHONE, plus_less, True, True, "Phone_SHA256", True, True),
            ],
            "https://ads.tiktok.com/help/article/list-of-supported-ids-and-formats-for-a-customer-file",
            # "File must contain at least 1000 entries."
            (
                1000,
                "https://ads.tiktok.com/help/article/how-to-create-a-custom-audience-with-a-customer-file",
            ),
        ),
        _crm(
            "klaviyo",
            [
                Field("Email", EMAIL, email, identifier=True),
                Field("Phone Number", PHONE, _text, identifier=True, safe=True, phone=True),
                Field("First Name", NAME, first_name),
                Field("Last Name", NAME, last_name),
                Field("Country", COUNTRY, country, safe=True),
            ],
            "https://help.klaviyo.com/hc/en-us/articles/115005078967",
        ),
        _crm(
            "hubspot",
            [
                Field("Email", EMAIL, email, identifier=True),
                Field("First name", NAME, first_name),
                Field("Last name", NAME, last_name),
                Field("Phone number", PHONE, _text, identifier=True, safe=True, phone=True),
                Field("Country/Region", COUNTRY, country, safe=True),
            ],
            "https://knowledge.hubspot.com/import-and-export/set-up-your-import-file",
        ),
        _crm(
            "mailchimp",
            [
                # Mailchimp needs the e-mail address: a row without one cannot be imported.
                Field("Email Address", EMAIL, email, identifier=True),
                Field("First Name", NAME, first_name),
                Field("Last Name", NAME, last_name),
                Field("Phone Number", PHONE, _text, safe=True, phone=True),
            ],
            "https://mailchimp.com/help/format-guidelines-for-your-import-file/",
        ),
    )
}


class PresetRows:
    """A preset's columns, then the segment's own; rows with no identifier are dropped.

    A segment column named like a preset column replaces where that column's value
    comes from (normalisation and hashing still apply); ``rename`` maps a preset
    header to another name; any other segment column is added after the preset's.
    """

    def __init__(
        self,
        preset: Preset,
        hashed: bool,
        extra: Sequence[Column] | None = None,
        rename: Mapping[str, str] | None = None,
        phone_region: str = "",
    ) -> None:
        rename = rename or {}
        own = {c.name: c for c in extra or ()}
        headers = preset.headers(hashed)
        self.fields = preset.fields
        self.hashing = [hashed and f.hashable for f in preset.fields]
        self.phones = Phones(phone_region)
        self.manys = []
        for field, header in zip(preset.fields, headers, strict=True):
            column = own.pop(header, None) or own.pop(field.header, None)
            source = column.source if column else field.source
            # The one phone rule for every preset, whatever column the number comes from.
            source = f"e164({source})" if field.phone else source
            self.manys.append(compile_many(source, self.phones))
        self.identifiers = [i for i, f in enumerate(preset.fields) if f.identifier]
        rest = [c for c in extra or () if c.name in own]
        self.extra = RowBuilder(rest, phone_region) if rest else None
        self.header = [rename.get(h, h) for h in headers]
        self.kinds = ["string"] * len(headers)
        self.formula_safe = [f.safe or h for f, h in zip(preset.fields, self.hashing, strict=True)]
        if self.extra:
            self.header += self.extra.header
            self.kinds += self.extra.kinds
            self.formula_safe += self.extra.formula_safe
        self.dropped = 0

    @property
    def invalid_phones(self) -> int:
        return self.phones.invalid + (self.extra.invalid_phones if self.extra else 0)

    def columns(self, records: list[Any]) -> list[list[Any]]:
        cols: list[list[Any]] = []
        for field, many, hashed in zip(self.fields, self.manys, self.hashing, strict=True):
            norm = field.normalise
            col = [norm(v) for v in many(records)]
            cols.append([sha256_hex(v) for v in col] if hashed else col)
        if self.extra:
            cols += self.extra.columns(records)
        keep = [any(cols[i][r] for i in self.identifiers) for r in range(len(records))]
        if all(keep):
            return cols
        self.dropped += keep.count(False)
        return [[v for v, k in zip(col, keep, strict=True) if k] for col in cols]


def rows_for(spec: OutputSpec) -> Rows:
    """The rows of an export: a preset's, or the segment's columns (or every known field)."""
    if spec.preset:
        preset = PRESETS[spec.preset]
        hashed = preset.hash_default if spec.hash is None else spec.hash
        allowed = hashed and preset.hash_allowed
        return PresetRows(preset, allowed, spec.columns, spec.rename, spec.phone_region)
    return RowBuilder(spec.columns, spec.phone_region)


def too_small(spec: OutputSpec, rows: int) -> str:
    """A warning when a preset's file has fewer rows than its platform can use ('' if not).

    >>> from runner.spec.segment import CsvOptions, OutputSpec
    >>> tiktok = OutputSpec("csv", "t.csv", None, "none", CsvOptions(), {})
    >>> tiktok = replace(tiktok, preset="tiktok_custom_audience")
    >>> too_small(tiktok, 999).split(";")[0]
    '999 rows is below the 1,000 tiktok_custom_audience documents as its minimum'
    """
    preset = PRESETS.get(spec.preset or "")
    if preset is None or rows >= preset.minimum:
        return ""
    return (
        f"{rows:,} rows is below the {preset.minimum:,} {preset.name} documents as its "
        f"minimum; the platform may refuse the file or not use it "
        f"({preset.minimum_source})"
    )
