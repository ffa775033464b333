"""Relative dates through a sandboxed Jinja environment, on one frozen clock.

Segment files come from pull requests, so a template is plain text and
``{{ ... }}`` expressions only, checked and budgeted by
:mod:`runner.spec.template_guard` (no ``{% %}`` statements, no calls but ``var``,
no huge strings, one second at most), with undefined names as errors.
Templates only ever produce strings; they cannot add YAML structure.

In a template:

``now``
    the run's clock (``--as-of`` or the start of the run) in the project time zone
``run_date``
    ``now`` as ``YYYY-MM-DD``; ``segment.name`` and ``segment.labels``
``var(name, default)``
    a ``--var name=value`` from the command line
filters
    ``plus(days=.., weeks=.., months=.., hours=.., minutes=..)``, ``minus(...)``,
    ``start_of('day'|'week'|'month'|'year')``, ``end_of(...)``,
    ``in_tz('Asia/Kolkata')``, ``api`` (ISO-8601 UTC with milliseconds and ``Z``),
    ``fmt('%Y%m%d')``; for text ``default``, ``lower``, ``upper``, ``trim``,
    ``replace``, ``join``, ``length``

>>> clock = Clock.parse("2026-11-25T10:00:00Z", "UTC")
>>> render_string("{{ now | minus(days=7) | start_of('day') | api }}", clock)
'2026-11-18T00:00:00.000Z'
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2
from dateutil.relativedelta import relativedelta

from runner.errors import TemplateError, UsageError
from runner.spec import template_guard as guard

MAX_OUTPUT = 4096
MAX_PATTERN = 256  # characters of a fmt() pattern
MAX_AMOUNT = 1_000_000_000  # of any one plus/minus unit
MAX_CONTEXT = 4096  # characters of repr(segment) a template may see
UNITS = ("day", "week", "month", "year")
AMOUNTS = ("years", "months", "weeks", "days", "hours", "minutes", "seconds")


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError, TypeError) as exc:
        raise UsageError(
            f"unknown time zone {name!r}: use an IANA name such as 'UTC', "
            "'Europe/London' or 'Asia/Kolkata'"
        ) from exc


@dataclass(frozen=True)
class Clock:
    """The one instant a run sees, in the project's time zone."""

    now: dt.datetime
    tz: ZoneInfo

    @classmethod
    def parse(cls, as_of: str | None, tz_name: str) -> Clock:
        tz = zone(tz_name)
        if as_of is None:
            return cls(dt.datetime.now(tz).replace(microsecond=0), tz)
        text = as_of.strip()
        try:
            if len(text) == 10:
                moment = dt.datetime.fromisoformat(text).replace(tzinfo=tz)
            else:
                moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
                if moment.tzinfo is None:
                    moment = moment.replace(tzinfo=tz)
            return cls(moment.astimezone(tz), tz)
        except ValueError as exc:
            raise UsageError(
                f"--as-of {as_of!r} is not an ISO-8601 date or date-time "
                "(for example 2026-11-25 or 2026-11-25T09:00:00Z)"
            ) from exc
        except OverflowError as exc:  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
            raise UsageError(
                f"--as-of {as_of!r} is out of range in time zone {tz_name!r}: {exc}"
            ) from exc

    def iso(self) -> str:
        return self.now.isoformat()


def to_api(value: dt.datetime) -> str:
    """ISO-8601 UTC with milliseconds and ``Z``, as the platform writes dates."""
    moment = _need_datetime(value, "api").astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _need_aware(value: Any, name: str) -> tuple[dt.datetime, dt.tzinfo]:
    """``value`` and its time zone: a filter's date-time always has one."""
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value, value.tzinfo
    raise TemplateError(f"filter '{name}' needs a date-time such as now, got {value!r}")


def _need_datetime(value: Any, name: str) -> dt.datetime:
    return _need_aware(value, name)[0]


def _check_amounts(amounts: Mapping[str, Any]) -> None:
    for unit, amount in amounts.items():
        if unit not in AMOUNTS:
            raise TemplateError(
                f"plus/minus got unknown unit {unit!r}; use {', '.join(sorted(AMOUNTS))}"
            )
        if isinstance(amount, bool) or not isinstance(amount, int | float):
            raise TemplateError(f"plus/minus {unit}={amount!r}: expected a number")
        if not math.isfinite(amount) or abs(amount) > MAX_AMOUNT:
            raise TemplateError(
                f"plus/minus {unit}={amount!r} is out of range (at most {MAX_AMOUNT})"
            )


def _shift(value: dt.datetime, sign: int, **amounts: Any) -> dt.datetime:
    value = _need_datetime(value, "plus/minus")
    _check_amounts(amounts)
    tz = value.tzinfo
    calendar = {k: sign * v for k, v in amounts.items() if k in AMOUNTS[:4]}
    clock = {k: sign * v for k, v in amounts.items() if k in AMOUNTS[4:]}
    moment = value
    if calendar:  # calendar units keep the wall-clock time across DST ...
        moment = value.replace(tzinfo=None) + relativedelta(**calendar)
        moment = moment.replace(tzinfo=tz)
    if clock:  # ... clock units are elapsed time (from the instant, whichever fold it is in)
        moment = (moment.astimezone(dt.UTC) + dt.timedelta(**clock)).astimezone(tz)
    return _normalise(moment)


def _normalise(moment: dt.datetime) -> dt.datetime:
    # Round-trip through UTC so a wall time in a DST gap or fold gets a real offset.
    tz = moment.tzinfo
    return moment.astimezone(dt.UTC).astimezone(tz)


def plus(value: dt.datetime, **amounts: Any) -> dt.datetime:
    return _shift(value, 1, **amounts)


def minus(value: dt.datetime, **amounts: Any) -> dt.datetime:
    return _shift(value, -1, **amounts)


def _unit(unit: str, name: str) -> str:
    if unit not in UNITS:
        raise TemplateError(f"{name}({unit!r}): unit must be one of {', '.join(UNITS)}")
    return unit


def day_start(day: dt.date, tz: dt.tzinfo) -> dt.datetime:
    """The first instant whose local date is ``day`` (or later, if DST skips all of ``day``).

    Usually local midnight; the earlier one when midnight repeats (a fold); the
    end of the gap when DST skips midnight (America/Santiago, 2026-09-06: 01:00).
    """
    wall = dt.datetime.combine(day, dt.time(), tzinfo=tz)
    readings = sorted({wall.replace(fold=fold).astimezone(dt.UTC) for fold in (0, 1)})
    for instant in readings:
        if instant.astimezone(tz).replace(tzinfo=None) == wall.replace(tzinfo=None):
            return instant.astimezone(tz)
    # Midnight is in a gap: the two readings straddle the change, so the day
    # starts at the first instant between them whose local date is ``day``.
    before, after = readings[0], readings[-1]
    low, high = 0, (after - before) // dt.timedelta(microseconds=1)
    while high - low > 1:
        middle = (low + high) // 2
        reached = (before + dt.timedelta(microseconds=middle)).astimezone(tz).date() >= day
        low, high = (low, middle) if reached else (middle, high)
    return (before + dt.timedelta(microseconds=high)).astimezone(tz)


def _first_day(value: dt.datetime, unit: str) -> dt.date:
    day = value.date()
    if unit == "week":  # ISO weeks start on Monday
        return day - dt.timedelta(days=day.weekday())
    if unit == "month":
        return day.replace(day=1)
    if unit == "year":
        return day.replace(month=1, day=1)
    return day


def start_of(value: dt.datetime, unit: str) -> dt.datetime:
    """The first instant of the local day, week, month or year ``value`` falls in."""
    value, tz = _need_aware(value, "start_of")
    return day_start(_first_day(value, _unit(unit, "start_of")), tz)


def end_of(value: dt.datetime, unit: str) -> dt.datetime:
    """The last millisecond before the next local day, week, month or year starts."""
    value, tz = _need_aware(value, "end_of")
    first = _first_day(value, _unit(unit, "end_of"))
    step = {
        "day": relativedelta(days=1),
        "week": relativedelta(weeks=1),
        "month": relativedelta(months=1),
        "year": relativedelta(years=1),
    }
    following = day_start(first + step[unit], tz)
    return (following.astimezone(dt.UTC) - dt.timedelta(milliseconds=1)).astimezone(tz)


def in_tz(value: dt.datetime, name: str) -> dt.datetime:
    return _need_datetime(value, "in_tz").astimezone(zone(name))


def fmt(value: dt.datetime, pattern: str = "%Y-%m-%d") -> str:
    if not isinstance(pattern, str) or len(pattern) > MAX_PATTERN:
        raise TemplateError(f"fmt() needs a pattern of at most {MAX_PATTERN} characters")
    return _need_datetime(value, "fmt").strftime(pattern)


def _make_env() -> guard.GuardedSandbox:
    env = guard.GuardedSandbox(
        undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False
    )
    filters: dict[str, Callable[..., Any]] = {
        "plus": plus,
        "minus": minus,
        "start_of": start_of,
        "end_of": end_of,
        "in_tz": in_tz,
        "api": to_api,
        "fmt": fmt,
        **guard.TEXT_FILTERS,
    }
    env.filters = {name: guard.counted(name, function) for name, function in filters.items()}
    env.globals = {}
    return env


_ENV = _make_env()


class _Var(guard.TemplateFunction):
    """``var(name, default)``: a ``--var name=value`` from the command line."""

    def __init__(self, variables: Mapping[str, str]) -> None:
        self.variables = dict(variables)

    def __call__(self, name: str, default: Any = None) -> Any:
        if name in self.variables:
            value = self.variables[name]
            bad = guard.lone_surrogate(value)
            if bad is not None:
                raise TemplateError(f"--var {name} has a lone surrogate {bad}: not valid Unicode")
            return value
        if default is None:
            raise TemplateError(f"variable {name!r} is not set: pass --var {name}=VALUE")
        return default


@dataclass(frozen=True)
class TemplateContext:
    clock: Clock
    variables: Mapping[str, str] = field(default_factory=dict)
    segment: Mapping[str, Any] = field(default_factory=dict)

    @functools.cached_property
    def _segment(self) -> Any:
        # The raw file is not validated yet: give templates a segment small enough
        # that using it many times stays within a few MB.
        seen = dict(self.segment)
        if len(repr(seen)) <= MAX_CONTEXT:
            return seen
        return jinja2.StrictUndefined(
            hint=f"'segment' is not available: its name and labels are longer than "
            f"{MAX_CONTEXT} characters"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "now": self.clock.now,
            "run_date": self.clock.now.strftime("%Y-%m-%d"),
            "as_of": self.clock.iso(),
            "tz": str(self.clock.tz.key),
            "segment": self._segment,
            "var": _Var(self.variables),
        }


def is_template(text: str) -> bool:
    return "{{" in text or "{%" in text or "{#" in text


def syntax_problem(text: str) -> str | None:
    """Why ``text`` is not a template the runner can render, found without rendering it
    (a project default has no segment or clock yet), or None."""
    if not is_template(text):
        return None
    try:
        guard.compile_checked(_ENV, text)
    except TemplateError as exc:
        return str(exc)
    except jinja2.TemplateSyntaxError as exc:
        return f"template syntax error: {exc.message}"
    except jinja2.exceptions.SecurityError as exc:
        return f"template is not allowed to do that: {exc}"
    except (RecursionError, MemoryError) as exc:
        return f"template is too complex: {type(exc).__name__}"
    return None


def render_string(text: str, clock: Clock | TemplateContext) -> str:
    """Render one template string; raise :class:`TemplateError` with a readable reason."""
    if not is_template(text):
        return text
    ctx = clock if isinstance(clock, TemplateContext) else TemplateContext(clock)
    with guard.budget():
        result = _render(text, ctx)
    if len(result) > MAX_OUTPUT:
        raise TemplateError(f"template output is longer than {MAX_OUTPUT} characters")
    bad = guard.lone_surrogate(result)
    if bad is not None:
        raise TemplateError(f"template output has a lone surrogate {bad}: not valid Unicode text")
    return result


def _render(text: str, ctx: TemplateContext) -> str:
    try:
        return guard.compile_checked(_ENV, text).render(ctx.as_dict())
    except TemplateError:
        raise
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"template syntax error: {exc.message}") from exc
    except jinja2.exceptions.SecurityError as exc:
        raise TemplateError(f"template is not allowed to do that: {exc}") from exc
    except jinja2.UndefinedError as exc:
        raise TemplateError(f"template uses an undefined name: {exc.message}") from exc
    except UsageError as exc:
        raise TemplateError(str(exc)) from exc
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise TemplateError(f"template failed: {exc}") from exc
    except (RecursionError, MemoryError) as exc:
        raise TemplateError(f"template is too complex: {type(exc).__name__}") from exc
    except Exception as exc:  # a library failing on a template is the template's problem
        raise TemplateError(f"template failed: {type(exc).__name__}: {exc}") from exc
