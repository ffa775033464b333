"""The contacts a sandbox serves, made before it serves a request: generated from the
seed, given a shape (their ``createdAt``), reshaped (ids, records), some moved onto
one instant (ties) and scrambled, as :class:`~runner.sandbox.server.SandboxOptions` say.

A :class:`Recipe` holds the options the contacts depend on, and nothing else (not the
port, latency, faults or paging). Making them is most of a server's start: about
80 us a contact, twice that with a shape. So a caller that starts many servers, such
as a test suite, can build each recipe once and give every server a copy
(:meth:`Dataset.copy`): ``Sandbox(options, build=...)``.

>>> import datetime as dt
>>> recipe = Recipe(users=3, seed=1, anchor=dt.datetime(2026, 11, 25, tzinfo=dt.UTC))
>>> data = build(recipe)
>>> len(data.population.blobs), data.missing_created
(3, 0)
>>> data.copy().population.blobs == data.population.blobs
True
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from runner.sandbox.data import Population
from runner.sandbox.shapes import shape


@dataclass(frozen=True)
class Recipe:
    """What the contacts depend on (see SandboxOptions for each field's meaning)."""

    users: int
    seed: int
    anchor: dt.datetime
    shape: str = "uniform"
    missing: tuple[float, str, str] = (0.0, "absent", "end")  # share, form, where listed
    records: str = "contacts"
    ties: int = 0
    tie_at: str | None = None
    scrambled: bool = False


@dataclass(frozen=True)
class Dataset:
    """The contacts, newest first, and what was done to them."""

    population: Population
    missing_created: int  # how many lack a createdAt
    tie_instant: str  # the instant ``ties`` contacts share ("" without contacts)

    def copy(self) -> Dataset:
        """The same contacts in lists of their own: a server changes its population
        (contacts arrive and are deleted) and a test may edit one; the contacts' bytes
        and facts are immutable, so they are shared."""
        p = self.population
        population = Population(list(p.blobs), list(p.facts), p.dated, set(p.gone))
        return Dataset(population, self.missing_created, self.tie_instant)


def build(recipe: Recipe) -> Dataset:
    """The contacts ``recipe`` describes (the same every time: all draws are seeded)."""
    population = Population.generate(recipe.users, recipe.seed, recipe.anchor)
    missing = shape(population, recipe.anchor, recipe.shape, recipe.seed, recipe.missing)
    population.reshape(recipe.records)
    tie_instant = population.tie(recipe.ties, recipe.tie_at)
    if recipe.scrambled:
        population.scramble(recipe.seed)
    return Dataset(population, missing, tie_instant)
