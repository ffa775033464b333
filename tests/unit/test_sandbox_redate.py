"""``Population.redate`` (the sandbox's shapes and ties move contacts in time): the bytes
and facts that decoding, editing and encoding the contact again give, which it skips."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson

from runner.sandbox.data import Population
from runner.sandbox.dataset import Recipe, build

ANCHOR = dt.datetime(2026, 11, 25, tzinfo=dt.UTC)
STAMP = "2025-01-02T03:04:05.678Z"


def the_slow_way(population: Population, index: int, stamp: str) -> tuple[bytes, Any]:
    """What :meth:`Population.edit` makes of the same change: the oracle."""
    copy = Population(list(population.blobs), list(population.facts))

    def change(contact: dict[str, Any]) -> None:
        contact["createdAt"] = stamp

    copy.edit(index, change)
    return copy.blobs[index], copy.facts[index]


def test_redate_gives_the_bytes_and_facts_an_edit_gives() -> None:
    population = Population.generate(300, 3, ANCHOR)
    # Text that looks like the key inside a value, and a contact without createdAt.
    population.edit(5, lambda c: c["profile"]["userDetails"].__setitem__("name", '"createdAt":"x"'))
    population.edit(6, lambda c: c.pop("createdAt"))
    population.edit(7, lambda c: c.__setitem__("createdAt", None))
    for index in range(len(population.blobs)):
        expected = the_slow_way(population, index, STAMP)
        population.redate(index, STAMP)
        assert (population.blobs[index], population.facts[index]) == expected, index
        assert orjson.loads(population.blobs[index])["createdAt"] == STAMP


def test_ties_reach_contacts_without_an_id_or_a_created_at() -> None:
    """A tie that reaches contacts without createdAt, in a list whose ids were taken away
    (``records: missing-ids``), builds as it did before redate (a reviewer's recipe: it
    raised KeyError '_id' for a while); the tied contacts carry the tie's instant."""
    recipe = Recipe(
        users=200, seed=1, anchor=ANCHOR, missing=(0.1, "absent", "start"),
        records="missing-ids", ties=20,
    )  # fmt: skip
    data = build(recipe)
    created = [orjson.loads(blob).get("createdAt") for blob in data.population.blobs]
    assert created.count(data.tie_instant) >= 20
