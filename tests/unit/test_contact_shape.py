"""The contact's documented shape (schemas/contact.schema.json) agrees with the docs, the
sandbox's contacts and the columns the runner writes without ``output.columns``; column
paths are judged against it (runner.spec.contact)."""

from __future__ import annotations

import datetime as dt
import json
import random
import re
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from runner.rows.build import KNOWN_FIELDS
from runner.rows.presets import PRESETS
from runner.sandbox.data import make_contact
from runner.spec.contact import documented_paths, path_problem, source_problem
from runner.spec.schema import load_schema
from tests.conftest import ROOT

VALIDATOR = Draft202012Validator(load_schema("contact.schema.json"), format_checker=FormatChecker())


def sandbox_contacts(count: int = 300) -> list[dict[str, Any]]:
    rng = random.Random(7)
    anchor = dt.datetime(2026, 11, 25, tzinfo=dt.UTC)
    return [make_contact(rng, anchor, "6" * 24) for _ in range(count)]


def leaf_paths(value: Any, prefix: str = "") -> list[str]:
    """Every path to a scalar in ``value`` (a list's items as their index)."""
    if isinstance(value, dict) and value:
        items = value.items()
    elif isinstance(value, list) and value:
        items = ((str(i), v) for i, v in enumerate(value))
    else:
        return [prefix]
    return [p for k, v in items for p in leaf_paths(v, f"{prefix}.{k}" if prefix else k)]


def test_the_documented_sample_is_a_contact() -> None:
    text = (ROOT / "docs" / "flowmatix-api.md").read_text("utf-8")
    sample = re.search(r"## A contact\n\n```json\n(.*?)\n```", text, re.S)
    assert sample is not None
    contact = json.loads(sample.group(1))
    assert list(VALIDATOR.iter_errors(contact)) == []
    unlisted = [p for p in leaf_paths(contact) if path_problem(p)]
    assert unlisted == []


def test_every_field_the_sandbox_serves_is_documented_and_valid() -> None:
    for contact in sandbox_contacts():
        assert list(VALIDATOR.iter_errors(contact)) == []
        assert [p for p in leaf_paths(contact) if path_problem(p)] == []


def test_every_documented_path_is_served_by_the_sandbox() -> None:
    served = {re.sub(r"\.\d+", ".0", p) for c in sandbox_contacts() for p in leaf_paths(c)}
    prefixes = {p.rsplit(".", n)[0] for p in served for n in range(p.count(".") + 1)}
    assert sorted(set(documented_paths()) - prefixes) == []


def test_a_contact_of_the_wrong_shape_is_refused_by_the_schema() -> None:
    (contact,) = sandbox_contacts(1)
    contact["profile"]["userDetails"]["contact"]["phone"] = "+44 7911 123456"
    contact["createdAt"] = "yesterday"
    assert len(list(VALIDATOR.iter_errors(contact))) == 2


def test_the_flattened_columns_and_every_preset_read_documented_fields() -> None:
    assert [p for p in KNOWN_FIELDS if path_problem(p)] == []
    sources = [f.source for preset in PRESETS.values() for f in preset.fields]
    assert sources and [s for s in sources if source_problem(s)] == []


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("profile.userDetails.contact.emial", "has no field 'emial'"),
        (
            "profile.userDetails.contact.EMAIL",
            "(did you mean 'profile.userDetails.contact.email'?)",
        ),
        (
            "profile.userDetails.Contact.email",
            "(did you mean 'profile.userDetails.contact.email'?)",
        ),
        ("profile.details.contact.email", "'profile' has no field 'details'"),
        ("lastMessage.at.date", "'lastMessage.at' is a string value: there is nothing under it"),
        ("hasOrdered.status.value", "'hasOrdered.status' is a boolean value"),
        ("segments.first", "'segments' is a list: pick an item by its number"),
        ("country", "(did you mean 'profile.userDetails.country'?)"),
    ],
)
def test_a_path_outside_the_shape_says_where_it_leaves_it(path: str, why: str) -> None:
    problem = path_problem(path)
    assert problem is not None and why in problem


@pytest.mark.parametrize(
    "path",
    ["platform.0", "profile.notes.3.title", "profile.userDetails.attributes.0.value", "_bot"],
)
def test_list_items_and_documented_fields_pass(path: str) -> None:
    assert path_problem(path) is None


def test_unchecked_lets_a_path_leave_the_shape_but_not_the_grammar() -> None:
    assert source_problem("profile.userDetails.loyaltyTier", unchecked=True) is None
    assert source_problem("profile.userDetails.loyaltyTier") is not None
    assert source_problem("e16(_id)", unchecked=True) is not None


@pytest.mark.parametrize("n", [1, 2, 3, 5, 7, 10, 20, 1000, 400 * 86400, 2_999_999_999])
def test_the_sandbox_draws_what_pythons_choice_and_randrange_draw(n: int) -> None:
    """The generator's shortcut (:func:`runner.sandbox.data._below`) keeps a seed's
    contacts: Python's own ``choice`` and ``randrange`` are the oracle, draw for draw."""
    from runner.sandbox.data import _below

    seq = range(n)
    for seed in range(5):
        ours, python = random.Random(seed), random.Random(seed)
        for _ in range(200):
            assert seq[_below(ours.getrandbits, n)] == python.choice(seq)
            assert 7 + _below(ours.getrandbits, n) == python.randrange(7, 7 + n)
        assert ours.random() == python.random()  # the streams are still in step
