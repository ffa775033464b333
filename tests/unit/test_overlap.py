"""The overlap merge (runner.history.overlap.shared) against Python's own sets: any two
sets of ids, of any sizes and sharing any part, across every sixteenth of the digest
space; and the Jaccard index of the same sets."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from runner.history.overlap import Pair, digests_of, shared
from runner.history.snapshot import canonical

ids = st.sets(st.one_of(st.text(max_size=8), st.integers()), max_size=300)


@settings(max_examples=200, deadline=None)
@given(ids, ids, ids)
def test_shared_and_jaccard_equal_those_of_sets(common: set, mine: set, theirs: set) -> None:
    a, b = common | mine, common | theirs
    lines_a, lines_b = (sorted({canonical(x) for x in s}) for s in (a, b))
    got = shared(digests_of(lines_a), digests_of(lines_b))
    want = len({canonical(x) for x in a} & {canonical(x) for x in b})
    assert got == want
    union = len(lines_a) + len(lines_b) - want
    pair = Pair("a", "b", len(lines_a), len(lines_b), got)
    assert pair.jaccard == (want / union if union else 0.0)


def test_every_sixteenth_is_compared() -> None:
    lines = [canonical(f"id-{i}") for i in range(5000)]
    full, half = digests_of(lines), digests_of(lines[::2])
    assert [len(full.part(i)) > 0 for i in range(16)] == [True] * 16
    assert shared(full, half) == 2500 and shared(half, full) == 2500
    assert shared(full, digests_of([])) == 0
