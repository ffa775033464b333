"""Hostile templates are refused fast and small, each in a child with a hard memory limit.

Each template renders in its own Python process whose address space is capped
at 300 MB above what it uses once warmed up (``RLIMIT_AS``: a real kernel
limit, so a template that tries to allocate gigabytes dies there, not here).
The child times the render with ``time.monotonic`` and then measures its peak
allocation with ``tracemalloc`` in a second render.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from runner.errors import TemplateError
from runner.spec import template_guard
from runner.spec.templating import Clock, TemplateContext, render_string
from tests.conftest import ROOT, cli_env

CHILD = r"""
import json, resource, sys, time, tracemalloc
from runner.errors import TemplateError
from runner.spec.templating import Clock, TemplateContext, render_string

ctx = TemplateContext(
    Clock.parse("2026-11-25T10:00:00Z", "UTC"),
    {"big": "v" * 60000},
    {"name": "bomb", "labels": ["a", "b"]},
)
render_string("{{ now | end_of('month') | api }} {{ 'a' | upper }}", ctx)  # warm up
with open("/proc/self/status") as status:
    size_kb = int(status.read().split("VmSize:")[1].split()[0])
limit = size_kb * 1024 + 300 * 2**20
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

def attempt():
    try:
        return "rendered: " + render_string(sys.argv[1], ctx)[:80]
    except TemplateError as exc:
        return str(exc)
    except BaseException as exc:
        return f"crashed: {type(exc).__name__}"

started = time.monotonic()
outcome = attempt()
elapsed = time.monotonic() - started
tracemalloc.start()
attempt()
peak = tracemalloc.get_traced_memory()[1]
print(json.dumps({"outcome": outcome, "seconds": elapsed, "peak": peak}))
"""

CONCAT_BOMB = "{{ " + " ~ ".join(["('a' * 60000)"] * 40) + " }}"
NESTED = "(" * 1000 + "1" + ")" * 1000

# (template, what the one-line message must say)
BOMBS = [
    (
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}x",
        "'{% for %}' statements are not allowed in a template",
    ),
    (
        "{% for i in range(99999) %}{% for j in range(99999) %}{% for k in range(99999) %}"
        "{% endfor %}{% endfor %}{% endfor %}",
        "'{% for %}' statements are not allowed in a template",
    ),
    ("{{ 'a'.ljust(4000000000) }}", "calling 'ljust' is not allowed in a template"),
    ("{{ 'a'.rjust(10**9) ~ 'b'.center(10**9) }}", "calling 'rjust' is not allowed"),
    ("{{ '7'.zfill(999999999) }}", "calling 'zfill' is not allowed"),
    ("{{ '%999999999d' % 1 }}", "'%' string formatting is not allowed in a template"),
    ("{{ '%s%s' % ('a' * 60000, 'b') }}", "'%' string formatting is not allowed"),
    ("{{ '{:999999999}'.format(1) }}", "calling 'format' is not allowed in a template"),
    ("{{ range(10**5) | join }}", "'range' is not allowed in a template"),
    ("{{ ['a' * 60000, 'b' * 60000] | join(',') }}", "filter 'join' would make a string"),
    ("{{ 'a' * 65536 * 65536 * 65536 }}", "'*' would make a string of 4294967296 characters"),
    ("{{ 'x' * 10**9 }}", "'*' would make a string of 1000000000 characters"),
    ("{{ var('big') + var('big') }}", "'+' would make a string of 120000 characters"),
    ("{{ ('a' * 60000) | replace('a', 'aaaa') }}", "filter 'replace' would make a string"),
    ("{{ (2 ** 2000) * (2 ** 2000) * (2 ** 2000) }}", "number too large in template"),
    (CONCAT_BOMB, "template makes more than 262144 characters of text in all"),
    ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "'{% macro %}' statements are not allowed"),
    ("{{ 'nan' | float }}", "filter 'float' is not allowed in a template"),
    ("{{ now | plus(days=1e400 - 1e400) }}", "number inf is out of range"),
    ("{{ lipsum(10**6) }}", "'lipsum' is not allowed in a template"),
    ("{{ cycler(1, 2) }}", "'cycler' is not allowed in a template"),
    ("{{ joiner(',') }}", "'joiner' is not allowed in a template"),
    ("{{ namespace(a=1) }}", "'namespace' is not allowed in a template"),
    ("{% set x = 'a' * 60000 %}{{ x ~ x ~ x ~ x ~ x }}", "'{% set %}' statements are not allowed"),
    ("{{ " + NESTED + " }}", "template is nested more than 48 levels deep"),
    ("{{ " + "-" * 3000 + "1 }}", "template is nested more than 48 levels deep"),
    ("{{ '\udc80' }}", "template has a lone surrogate '\\udc80'"),
]


def run_child(template: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, template],
        cwd=ROOT,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, object] = json.loads(done.stdout)
    return result


@pytest.mark.parametrize(("template", "message"), BOMBS, ids=[b[1][:40] for b in BOMBS])
def test_hostile_template_is_refused_fast_and_small(template: str, message: str) -> None:
    result = run_child(template)  # '\udc80' travels in argv as the byte 0x80 (surrogateescape)
    assert message in str(result["outcome"]), result
    assert "\n" not in str(result["outcome"])
    assert float(result["seconds"]) < 1.0  # type: ignore[arg-type]
    assert int(result["peak"]) < 8 * 2**20  # type: ignore[call-overload]


def test_a_long_but_allowed_template_stays_within_budget() -> None:
    # About the most an allowed template can do: 4096 characters of filters, under a second.
    template = "{{ now | end_of('month') | in_tz('Asia/Kolkata') | api }}" * 71
    assert len(template) > 4000
    result = run_child(template)
    assert str(result["outcome"]).startswith("rendered: 2026-11-30T23:59:59.999Z"), result
    assert float(result["seconds"]) < 1.0  # type: ignore[arg-type]


def test_operation_and_time_budgets_stop_a_render(monkeypatch: pytest.MonkeyPatch) -> None:
    # Unreachable with today's limits (a 4096-character template makes a few hundred
    # operations in milliseconds); proven here with the limits turned down.
    clock = Clock.parse("2026-11-25T10:00:00Z", "UTC")
    monkeypatch.setattr(template_guard, "MAX_OPS", 3)
    with pytest.raises(TemplateError, match="template takes more than 3 operations"):
        render_string("{{ now | api }}" * 4, clock)
    monkeypatch.setattr(template_guard, "MAX_OPS", 10_000)
    monkeypatch.setattr(template_guard, "MAX_SECONDS", 0.0)
    with pytest.raises(TemplateError, match="template takes longer than 0 s to render"):
        render_string("{{ now | api }}", clock)


def test_each_render_has_its_own_budget() -> None:
    # 4 x 60,000 characters fits one template's 262,144; the next render starts from zero.
    ctx = TemplateContext(Clock.parse("2026-11-25", "UTC"), {"v": "v" * 60_000})
    template = "{{ (var('v') ~ var('v') ~ var('v') ~ var('v')) | length }}"
    assert [render_string(template, ctx) for _ in range(3)] == ["240000"] * 3
