"""Relative dates through a sandboxed Jinja environment, on one frozen clock.

Segment files come from pull requests, so templates run in Jinja's
:class:`~jinja2.sandbox.SandboxedEnvironment` with undefined names as errors
and with ``*`` and ``**`` guarded so a template cannot allocate gigabytes.
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
    ``fmt('%Y%m%d')``

>>> clock = Clock.parse("2026-11-25T10:00:00Z", "UTC")
>>> render_string("{{ now | minus(days=7) | start_of('day') | api }}", clock)
'2026-11-18T00:00:00.000Z'
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2
from dateutil.relativedelta import relativedelta
from jinja2.sandbox import SandboxedEnvironment

from runner.errors import TemplateError, UsageError

MAX_OUTPUT = 4096
MAX_SEQUENCE = 10_000
UNITS = ("day", "week", "month", "year")


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
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
        except ValueError as exc:
            raise UsageError(
                f"--as-of {as_of!r} is not an ISO-8601 date or date-time "
                "(for example 2026-11-25 or 2026-11-25T09:00:00Z)"
            ) from exc
        return cls(moment.astimezone(tz), tz)

    def iso(self) -> str:
        return self.now.isoformat()


def to_api(value: dt.datetime) -> str:
    """ISO-8601 UTC with milliseconds and ``Z``, as the platform writes dates."""
    moment = _need_datetime(value, "api").astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _need_datetime(value: Any, name: str) -> dt.datetime:
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value
    raise TemplateError(f"filter '{name}' needs a date-time such as now, got {value!r}")


def _shift(value: dt.datetime, sign: int, **amounts: int) -> dt.datetime:
    value = _need_datetime(value, "plus/minus")
    allowed = {"years", "months", "weeks", "days", "hours", "minutes", "seconds"}
    unknown = set(amounts) - allowed
    if unknown:
        raise TemplateError(
            f"plus/minus got unknown unit {sorted(unknown)[0]!r}; use {', '.join(sorted(allowed))}"
        )
    tz = value.tzinfo
    calendar = {
        k: sign * v for k, v in amounts.items() if k in ("years", "months", "weeks", "days")
    }
    clock = {k: sign * v for k, v in amounts.items() if k in ("hours", "minutes", "seconds")}
    # Calendar units keep the wall-clock time across DST; clock units are elapsed time.
    moment = value.replace(tzinfo=None) + relativedelta(**calendar)  # type: ignore[arg-type]
    moment = moment.replace(tzinfo=tz)
    if clock:
        moment = (moment.astimezone(dt.UTC) + dt.timedelta(**clock)).astimezone(tz)
    return _normalise(moment)


def _normalise(moment: dt.datetime) -> dt.datetime:
    # Round-trip through UTC so a wall time in a DST gap or fold gets a real offset.
    tz = moment.tzinfo
    return moment.astimezone(dt.UTC).astimezone(tz)


def plus(value: dt.datetime, **amounts: int) -> dt.datetime:
    return _shift(value, 1, **amounts)


def minus(value: dt.datetime, **amounts: int) -> dt.datetime:
    return _shift(value, -1, **amounts)


def _unit(unit: str, name: str) -> str:
    if unit not in UNITS:
        raise TemplateError(f"{name}({unit!r}): unit must be one of {', '.join(UNITS)}")
    return unit


def start_of(value: dt.datetime, unit: str) -> dt.datetime:
    value = _need_datetime(value, "start_of")
    _unit(unit, "start_of")
    day = value.replace(hour=0, minute=0, second=0, microsecond=0, fold=0)
    if unit == "week":  # ISO weeks start on Monday
        day = day.replace(tzinfo=None) - dt.timedelta(days=day.weekday())
        day = day.replace(tzinfo=value.tzinfo)
    elif unit == "month":
        day = day.replace(day=1)
    elif unit == "year":
        day = day.replace(month=1, day=1)
    return _normalise(day)


def end_of(value: dt.datetime, unit: str) -> dt.datetime:
    """The last millisecond of the day, week, month or year ``value`` falls in."""
    first = start_of(value, unit)
    step = {"day": {"days": 1}, "week": {"weeks": 1}, "month": {"months": 1}, "year": {"years": 1}}
    nxt = plus(first, **step[unit])
    return (nxt.astimezone(dt.UTC) - dt.timedelta(milliseconds=1)).astimezone(value.tzinfo)


def in_tz(value: dt.datetime, name: str) -> dt.datetime:
    return _need_datetime(value, "in_tz").astimezone(zone(name))


def fmt(value: dt.datetime, pattern: str = "%Y-%m-%d") -> str:
    return _need_datetime(value, "fmt").strftime(pattern)


class _Sandbox(SandboxedEnvironment):
    intercepted_binops = frozenset(["*", "**"])

    def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
        if operator_ == "**":
            too_big = isinstance(right, int) and abs(right) > 64
            if isinstance(left, int) and isinstance(right, int):
                too_big = too_big or left.bit_length() * abs(right) > 4096
            if too_big:
                raise TemplateError("number too large in template ('**' result over 4096 bits)")
            return operator.pow(left, right)
        if isinstance(left, str | list | tuple) or isinstance(right, str | list | tuple):
            count = right if isinstance(left, str | list | tuple) else left
            if isinstance(count, int) and count > MAX_SEQUENCE:
                raise TemplateError(
                    f"template repeats a value {count} times (at most {MAX_SEQUENCE})"
                )
        return operator.mul(left, right)


def _make_env() -> _Sandbox:
    env = _Sandbox(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False)
    filters: dict[str, Callable[..., Any]] = {
        "plus": plus,
        "minus": minus,
        "start_of": start_of,
        "end_of": end_of,
        "in_tz": in_tz,
        "api": to_api,
        "fmt": fmt,
    }
    env.filters.update(filters)
    return env


_ENV = _make_env()


@dataclass(frozen=True)
class TemplateContext:
    clock: Clock
    variables: Mapping[str, str] = field(default_factory=dict)
    segment: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        variables = dict(self.variables)

        def var(name: str, default: Any = None) -> Any:
            if name in variables:
                return variables[name]
            if default is None:
                raise TemplateError(f"variable {name!r} is not set: pass --var {name}=VALUE")
            return default

        return {
            "now": self.clock.now,
            "run_date": self.clock.now.strftime("%Y-%m-%d"),
            "as_of": self.clock.iso(),
            "tz": str(self.clock.tz.key),
            "segment": dict(self.segment),
            "var": var,
        }


def is_template(text: str) -> bool:
    return "{{" in text or "{%" in text or "{#" in text


def render_string(text: str, clock: Clock | TemplateContext) -> str:
    """Render one template string; raise :class:`TemplateError` with a readable reason."""
    if not is_template(text):
        return text
    ctx = clock if isinstance(clock, TemplateContext) else TemplateContext(clock)
    try:
        result = _ENV.from_string(text).render(ctx.as_dict())
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
    except (TypeError, ValueError, ArithmeticError, OverflowError) as exc:
        raise TemplateError(f"template failed: {exc}") from exc
    if len(result) > MAX_OUTPUT:
        raise TemplateError(f"template output is longer than {MAX_OUTPUT} characters")
    return result
