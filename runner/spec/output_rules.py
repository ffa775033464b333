"""Rules on a segment's ``output`` that the schema cannot say: the names a preset's file
gets (``rename`` and the segment's own columns, one name per column) and the region phone
numbers are read in (``phone_region``, a region libphonenumber knows).

The preset's column names come from the schema (``rename``'s allowed keys per preset, kept
equal to :data:`runner.rows.presets.PRESETS` by a test), since loading a segment does not
import the rows layer.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from runner.problems import Problem, did_you_mean
from runner.spec import schema

if TYPE_CHECKING:
    from runner.spec.loader import Document


@functools.cache
def preset_headers() -> dict[str, tuple[str, ...]]:
    """Every name each preset can write (hashed or not), from the schema's ``rename`` rules."""
    output = schema.load_schema(schema.SEGMENT_SCHEMA)["$defs"]["output"]
    found: dict[str, tuple[str, ...]] = {}
    for rule in output.get("allOf", []):
        preset = rule["if"].get("properties", {}).get("preset", {}).get("const")
        rename = rule["then"].get("properties", {}).get("rename")
        if preset and rename:
            found[preset] = tuple(rename["propertyNames"]["enum"])
    return found


def check(doc: Document, output: Mapping[str, Any], columns: Sequence[str]) -> list[Problem]:
    """The problems of ``output`` (``columns``: the names of the segment's own columns)."""
    problems = _phone_region(doc, output.get("phone_region"))
    preset, rename = output.get("preset"), output.get("rename")
    if isinstance(preset, str) and isinstance(rename, dict):
        problems += _rename(doc, preset, rename, columns)
    return problems


def _phone_region(doc: Document, region: Any) -> list[Problem]:
    if not isinstance(region, str):
        return []
    # here, not at import: every `segments` command loads segments, few name a region
    import phonenumbers

    if region in phonenumbers.SUPPORTED_REGIONS:
        return []
    hint = " (did you mean 'GB'?)" if region == "UK" else ""
    hint = hint or did_you_mean(region, sorted(phonenumbers.SUPPORTED_REGIONS))
    return [
        doc.problem(
            ("output", "phone_region"),
            f"'output.phone_region' is \"{region}\", a region libphonenumber does not "
            f"know{hint}; give an ISO 3166-1 alpha-2 code such as GB, IN or US",
        )
    ]


def _rename(
    doc: Document, preset: str, rename: Mapping[str, Any], columns: Sequence[str]
) -> list[Problem]:
    """One name per column: a renamed column meets no other column's name."""
    headers = preset_headers().get(preset, ())
    problems: list[Problem] = []
    # (name written, how a message names that column, the rename key that made it)
    written: list[tuple[str, str, str | None]] = []
    for header in headers:
        new = rename.get(header)
        if isinstance(new, str) and not new.strip():
            problems.append(
                doc.problem(
                    ("output", "rename", header),
                    f"'output.rename.{header}' is {new!r}, which names no column: give the "
                    f"name to write instead of '{header}', or remove the key",
                )
            )
        elif isinstance(new, str) and new != header:
            written.append((new, f"'{header}' (renamed to '{new}')", header))
        else:
            written.append((header, f"{preset}'s own '{header}'", None))
    # A segment column named like a preset column sets where its value comes from; any
    # other is a column of its own, after the preset's.
    for name in columns:
        if name not in headers:
            written.append((name, f"the column '{name}' of output.columns", None))
    groups: dict[str, list[tuple[str, str | None]]] = {}
    for name, what, key in written:
        groups.setdefault(name, []).append((what, key))
    for name, group in groups.items():
        keys = [key for _what, key in group if key is not None]
        if len(group) > 1 and keys:  # two columns with one name, and a rename made it so
            problems.append(
                doc.problem(
                    ("output", "rename", keys[0]),
                    f"'output.rename.{keys[0]}' makes two columns one name, '{name}': "
                    f"{' and '.join(what for what, _key in group)}; rename to a name no "
                    "other column has",
                )
            )
    return problems
