"""Sandbox.backdate (runner/sandbox/load.py): contacts imported with a past createdAt go
in beside the contact they copy, in every list at once. A list read before the import,
partly or to its end, above, around or below the row, must then hold exactly what a
list built afresh on the new population holds; and ``dated`` must still be exactly the
rows with a createdAt (contacts without one listed first, last, or none)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from runner.sandbox import Sandbox, SandboxOptions
from runner.sandbox.api import check_body, compile_filter, created_rows
from runner.sandbox.load import MatchList
from tests.conftest import full_body


def body(start: str = "", end: str = "") -> dict[str, Any]:
    if not (start or end):
        return full_body(isContact=False, applicableFilters=[])
    window = {"startAt": start, "endsAt": end}
    return full_body(isContact=False, applicableFilters=["createdAt"], createdAt=window)


def built_afresh(api: Sandbox, wanted: dict[str, Any]) -> list[Any]:
    pop = api.population
    rows = created_rows(pop.facts, wanted, pop.dated)
    found = MatchList([], [], compile_filter(check_body(dict(wanted))), rows.start, rows.stop)
    found.fill(pop, 10**9)
    return found.ids


@pytest.mark.parametrize(
    "missing",
    [
        {},
        {"missing_created": 0.05, "missing_at": "end"},
        {"missing_created": 0.05, "missing_at": "start"},
    ],
)
@pytest.mark.parametrize("seed", range(4))
def test_lists_after_a_backdate_hold_what_lists_built_afresh_hold(
    missing: dict[str, Any], seed: int
) -> None:
    with Sandbox(SandboxOptions(users=400, page_size=10, seed=seed, **missing)) as api:
        pop, rng = api.population, random.Random(seed)
        instants = {pop.facts[i].created_at for i in rng.sample(pop.dated, 6)}
        cuts = sorted(instants, reverse=True)
        bodies = [body(), *(body(cuts[i + 1], cuts[i]) for i in range(len(cuts) - 1))]
        for wanted in bodies:  # each list read some pages before the import
            for page in range(1, rng.randint(1, 8)):
                api.page({**wanted, "page": page})
        index = rng.choice([0, pop.dated.start, pop.dated.stop - 1, rng.randrange(len(pop.facts))])
        made = api.backdate(rng.randint(1, 5), index)
        for wanted in bodies:
            assert api.truth(wanted) == built_afresh(api, wanted), (index, wanted["createdAt"])
        dated = [i for i, facts in enumerate(pop.facts) if facts.created_at]
        assert pop.dated == range(dated[0], dated[-1] + 1)
        assert set(made) <= set(api.truth(body()))
