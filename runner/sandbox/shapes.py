"""Data shapes (``segments sandbox --shape``): when the contacts were created, and which
of them lack a ``createdAt``.

A paging strategy tuned on one shape of data can be slow on another: windows sized
from the distance between the run's as-of and the newest record lose to page numbers
when that newest record is weeks old. Each shape here is a rule for the contacts'
``createdAt``, applied after they are generated (their other fields, drawn from the
same seed, stay the same), and a filter that a segment reading it uses
(:attr:`Shape.filter`; most match everyone):

>>> sorted(SHAPES)
['growth', 'imports', 'past', 'sparse', 'stale', 'uniform', 'weekly']
>>> parse_shape("stale:14d")
('stale', 14.0)
>>> parse_shape("growth")
('growth', 0.0)

Contacts without ``createdAt`` (``missing_created``): the platform does not document
that every contact has one. They match no ``createdAt`` range, and a newest-first sort
puts them last (MongoDB orders a missing or null field below every date; ``start``
puts them first, as SQL's ``NULLS FIRST`` does).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from runner.sandbox.data import Population, api_time

DAY = 86_400_000  # ms
YEAR = 365 * DAY
RARE = "rare"  # the tag the sparse shape gives 1 contact in 100
MISSING_FORMS = {
    "absent": "no createdAt key",
    "null": "createdAt: null",
    "empty": 'createdAt: ""',
}
MISSING_AT = {"end": "listed after every dated contact", "start": "listed first"}

# ms before the anchor, from a uniform draw u in [0, 1) and the shape's parameter.
Draw = Callable[[random.Random, float], int]


@dataclass(frozen=True)
class Shape:
    """How long before the anchor each contact was created (``draw``), what it models,
    and the segment filter that reads it (``filter``: body fields)."""

    describe: str
    draw: Draw
    default: float = 0.0  # the parameter when none is given (stale: days)
    filter: dict[str, Any] = field(default_factory=dict)


def _imports(rng: random.Random, count: float) -> int:
    # 8 in 10 contacts came in a few bulk imports, each sharing one instant to the ms.
    if rng.random() < 0.8:
        batch = rng.randrange(max(1, int(count)))
        return (batch * 97 + 13) * DAY // 3 + 437
    return int(rng.random() * 400 * DAY)


def _weekly(rng: random.Random, weeks: float) -> int:
    # One two-hour batch a week (a weekly sync), the newest 3 days old: windows sized to
    # a stretch of one batch find the six days after it empty.
    return (3 + 7 * rng.randrange(max(1, int(weeks)))) * DAY + int(rng.random() * DAY / 12)


SHAPES: dict[str, Shape] = {
    "uniform": Shape(
        "created evenly over the 400 days before the anchor",
        lambda rng, _: int(rng.random() * 400 * DAY),
    ),
    "stale": Shape(
        "the newest contact N days before the anchor (stale:14d), then 400 days evenly",
        lambda rng, days: int((days + rng.random() * 400) * DAY),
        default=14.0,
    ),
    "imports": Shape(
        "8 in 10 contacts in a few bulk imports (thousands on one instant), the rest even",
        _imports,
        default=4.0,
    ),
    "growth": Shape(
        "most contacts recent: density grows toward the anchor (u^3 of 400 days)",
        lambda rng, _: int(rng.random() ** 3 * 400 * DAY),
    ),
    "sparse": Shape(
        f"5 years evenly; 1 in 100 tagged {RARE!r}, the filter matches only those",
        lambda rng, _: int(rng.random() * 5 * YEAR),
        filter={"tags": [RARE]},
    ),
    "weekly": Shape(
        "one two-hour batch of contacts a week (weekly:N weeks, 57 by default)",
        _weekly,
        default=57.0,
    ),
    "past": Shape(
        "400 days evenly; the segment's own createdAt range is 300 to 200 days ago",
        lambda rng, _: int(rng.random() * 400 * DAY),
    ),
}


def parse_shape(spec: str) -> tuple[str, float]:
    """``name`` or ``name:N`` (``stale:14d``: days); ValueError naming the choices."""
    name, _, value = spec.partition(":")
    if name not in SHAPES:
        raise ValueError(f"sandbox shape {spec!r}; choose one of {', '.join(SHAPES)}")
    if not value:
        return name, SHAPES[name].default
    try:
        number = float(value.removesuffix("d"))
    except ValueError:
        number = -1.0
    if not 0 <= number <= 3650:
        raise ValueError(f"sandbox shape {spec!r}: expected {name}:N with N from 0 to 3650")
    return name, number


def past_range(anchor: dt.datetime) -> dict[str, str]:
    """The ``past`` shape's segment range: 300 to 200 days before ``anchor``."""
    return {
        "startAt": api_time(anchor - dt.timedelta(days=300)),
        "endsAt": api_time(anchor - dt.timedelta(days=200)),
    }


def segment_filter(spec: str, anchor: dt.datetime) -> dict[str, Any]:
    """The body fields a segment reading ``spec`` uses (everyone, the rare tag, or the
    past range)."""
    name, _ = parse_shape(spec)
    if name == "past":
        return {"applicableFilters": ["createdAt"], "createdAt": past_range(anchor)}
    return dict(SHAPES[name].filter)


def created_ms(spec: str, users: int, seed: int) -> list[int]:
    """How long before the anchor each of ``users`` contacts was created, in ms (drawn
    from their own generator: the contacts' other fields do not move)."""
    name, value = parse_shape(spec)
    rng = random.Random(f"{seed}:{name}")
    draw = SHAPES[name].draw
    return [draw(rng, value) for _ in range(users)]


def apply_shape(population: Population, spec: str, anchor: dt.datetime, seed: int) -> None:
    """Give ``population`` the shape's ``createdAt`` (uniform: left as generated) and
    its tags (sparse), newest first again."""
    name, _ = parse_shape(spec)
    if name in ("uniform", "past"):
        return
    before = created_ms(spec, len(population.blobs), seed)
    top = anchor.astimezone(dt.UTC).replace(tzinfo=None)
    rare = random.Random(f"{seed}:rare")
    for i, back in enumerate(before):
        stamp = api_time(top - dt.timedelta(milliseconds=back))
        if not (name == "sparse" and rare.random() < 0.01):
            population.redate(i, stamp)
            continue

        def change(contact: dict[str, Any], stamp: str = stamp) -> None:
            contact["createdAt"] = stamp
            details = contact["profile"]["userDetails"]
            details["tags"] = sorted({*details["tags"], RARE})

        population.edit(i, change)  # one in a hundred of sparse: the rare tag too
    population.sort()


def drop_created(population: Population, share: float, form: str, at: str, seed: int) -> int:
    """Take ``createdAt`` away from ``share`` of the contacts (``form``: the key absent,
    null or empty), listed ``at`` the end or the start; how many."""
    if form not in MISSING_FORMS or at not in MISSING_AT:
        raise ValueError(
            f"sandbox missing createdAt {form!r} at {at!r}; choose one of "
            f"{', '.join(MISSING_FORMS)} and one of {', '.join(MISSING_AT)}"
        )
    if share <= 0:
        return 0
    rng = random.Random(f"{seed}:missing")
    chosen = [i for i in range(len(population.blobs)) if rng.random() < share]

    def change(contact: dict[str, Any]) -> None:
        if form == "absent":
            del contact["createdAt"]
        else:
            contact["createdAt"] = None if form == "null" else ""

    for i in chosen:
        population.edit(i, change)
    population.sort(missing_first=at == "start")
    return len(chosen)


def shape(
    population: Population,
    anchor: dt.datetime,
    spec: str,
    seed: int,
    missing: tuple[float, str, str],
) -> int:
    """Give ``population`` the shape ``spec`` and take ``createdAt`` away from a share of
    it (``missing``: share, form, where listed); how many lack one."""
    apply_shape(population, spec, anchor, seed)
    share, form, at = missing
    return drop_created(population, share, form, at, seed)


def shape_line(spec: str, anchor: dt.datetime, missing: int) -> str:
    """``shape stale:14d: the newest contact ...; 60 contacts without createdAt``."""
    name, _ = parse_shape(spec)
    line = f"shape {spec}: {SHAPES[name].describe}"
    if wanted := segment_filter(spec, anchor):
        line += f"; segment filter {orjson.dumps(wanted).decode()}"
    if missing:
        line += f"; {missing} contacts without createdAt"
    return line
