"""The command line's grammar: the parser, one sub-parser per command, and every value
checked as argparse reads it, so a bad one is a usage error (exit 2).

Every number has a range, every text a clean alphabet, so nothing the user types
can run unbounded, crash later or inject a line into output:

>>> whole(1, 64)("8")
8
>>> instant("2026-11-25T09:00:00Z")
'2026-11-25T09:00:00Z'
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
from pathlib import Path
from typing import TYPE_CHECKING

from runner import __version__
from runner.cli.helptext import EXPORT_DESCRIPTION, EXPORT_HELP, PROGRESS, PROGRESS_HELP
from runner.cli.sandbox_args import sandbox_data, sandbox_paging
from runner.cli.values import _shown, bad_character, number, text, whole
from runner.report import REPORTERS
from runner.report.diff import DIFF_FORMATS
from runner.sinks import OutputRoot, parse_output_root
from runner.sinks.local import file_problem

if TYPE_CHECKING:
    Commands = argparse._SubParsersAction[argparse.ArgumentParser]

MAX_CONCURRENCY = 64  # the same cap as runner.yaml api.concurrency
YEARS = (1970, 2999)  # --as-of outside is a typo, and date arithmetic stays far from year 1/9999
_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_B64TOKEN = re.compile(r"[A-Za-z0-9._~+/-]+=*")  # RFC 6750 section 2.1


def var(text: str) -> tuple[str, str]:
    """``NAME=VALUE`` for ``--var``: a plain name, a value without control characters."""
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {_shown(text)}")
    if not _VAR_NAME.fullmatch(name):
        raise argparse.ArgumentTypeError(
            f"name {_shown(name)}: use letters, digits, '_', '.' or '-', "
            "starting with a letter or '_'"
        )
    bad = bad_character(value)
    if bad:
        raise argparse.ArgumentTypeError(f"the value of {name} has a {bad}")
    return name, value


def token(text: str) -> str:
    """A bearer token as RFC 6750 spells one (it is printed as a shell line, too)."""
    if not _B64TOKEN.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"{_shown(text)}: use letters, digits and - . _ ~ + / (then = padding) only"
        )
    return text


def instant(text: str) -> str:
    """An ISO-8601 date or date-time from 1970 to 2999, returned as typed.

    A date means its midnight, and a time without an offset is read in the
    project's time zone (:meth:`runner.spec.templating.Clock.parse` does that).
    """
    example = "for example 2026-11-25 or 2026-11-25T09:00:00Z"
    bad = bad_character(text)
    try:
        if bad:
            raise ValueError(bad)
        moment = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{_shown(text)} is not an ISO-8601 date or date-time ({example})"
        ) from None
    # The year as written: a time zone moves it by at most a day, still in range.
    if not YEARS[0] <= moment.year <= YEARS[1]:
        raise argparse.ArgumentTypeError(
            f"{_shown(text)} is outside the years {YEARS[0]} to {YEARS[1]} ({example})"
        )
    return text


def output_root(text: str) -> OutputRoot:
    """``--out``, parsed once: an empty, malformed or '..' value is a usage error."""
    try:
        return parse_output_root(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def results_file(text: str) -> Path:
    """``--results``: a folder or an unwritable place is a usage error, before anything runs."""
    problem = file_problem(Path(text)) if text else "is empty: give a file name"
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return Path(text)


def build_parser() -> argparse.ArgumentParser:
    """``segments``: the options every command shares, then one sub-parser per command."""
    parser = argparse.ArgumentParser(
        prog="segments",
        description="Validate, render and export audience segments kept as YAML in git.",
        epilog="Exit codes: 0 ok, 1 problems found, a run failed or an OS error, "
        "2 usage error, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM).",
    )
    parser.add_argument("--version", action="version", version=f"segment-runner {__version__}")
    parser.add_argument(
        "-C",
        "--project",
        type=Path,
        default=Path("."),
        metavar="DIR",
        help="project folder holding runner.yaml and segments/ (default: .)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in (_validate, _render, _list, _export, _history, _overlap, _freshness, _catalog):
        add(sub)
    for add in (_diff, _init, _sandbox):
        add(sub)
    return parser


def _add_selection(p: argparse.ArgumentParser, *, positional: bool = True) -> None:
    if positional:
        p.add_argument(
            "segments", nargs="*", metavar="SEGMENT", help="name, file path or label:NAME"
        )
    p.add_argument("--select", action="append", default=[], metavar="SEL", help="more selectors")
    p.add_argument("--exclude", action="append", default=[], metavar="SEL", help="leave these out")
    p.add_argument("--state", metavar="REF", help="git ref for the state:modified selector")
    _add_clock(p)


def _add_clock(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--as-of",
        type=instant,
        metavar="T",
        help="freeze the clock (ISO-8601, years 1970-2999; no offset = project time zone)",
    )
    p.add_argument(
        "--var", action="append", type=var, default=[], metavar="K=V", help="template variable"
    )


def _validate(sub: Commands) -> None:
    p = sub.add_parser("validate", help="check segment files; exit 1 on any problem")
    p.add_argument("paths", nargs="*", metavar="PATH", help="files or folders (default: segments/)")
    p.add_argument("--format", choices=sorted(REPORTERS), default="text")
    _add_selection(p, positional=False)


def _render(sub: Commands) -> None:
    p = sub.add_parser("render", help="print the exact request body and output path; no network")
    _add_selection(p)
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.add_argument("--out", type=output_root, metavar="DIR", help="show paths re-rooted under DIR")


def _list(sub: Commands) -> None:
    p = sub.add_parser("list", help="list segments: name, labels, format, output, file")
    _add_selection(p)
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.add_argument("--out", type=output_root, metavar="DIR", help="show paths re-rooted under DIR")


def _export(sub: Commands) -> None:
    p = sub.add_parser("export", help=EXPORT_HELP, description=EXPORT_DESCRIPTION)
    _add_selection(p)
    p.add_argument(
        "--out",
        type=output_root,
        metavar="DIR",
        help="re-root output under DIR (or an s3:// prefix)",
    )
    p.add_argument(
        "--concurrency",
        type=whole(1, MAX_CONCURRENCY, "the cap of runner.yaml api.concurrency"),
        help=f"pages fetched in parallel (1-{MAX_CONCURRENCY})",
    )
    p.add_argument(
        "--max-pages", type=whole(1, 10_000_000), help="stop after this many pages (1-10,000,000)"
    )
    p.add_argument("--dry-run", action="store_true", help="fetch and count; publish nothing")
    p.add_argument("--fail-fast", action="store_true", help="stop at the first failed segment")
    p.add_argument("--results", type=results_file, metavar="FILE", help="write run results as JSON")
    p.add_argument("--progress", choices=PROGRESS, default="auto", help=PROGRESS_HELP)
    p.add_argument(
        "--accept-change",
        action="store_true",
        help="publish even past expect.max_change, once (recorded in the history)",
    )
    p.add_argument(
        "--since",
        type=instant,
        metavar="T",
        help="where the first incremental run starts (ISO-8601; no offset = project time zone)",
    )


def _add_history_reading(p: argparse.ArgumentParser) -> None:
    """``--format`` and ``--out``: the commands that read what the exports recorded."""
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.add_argument(
        "--out",
        type=output_root,
        metavar="DIR",
        help="read the history the exports wrote under DIR (or an s3:// prefix) with --out",
    )


def _history(sub: Commands) -> None:
    p = sub.add_parser("history", help="past runs of each segment: a table with a sparkline")
    _add_selection(p)
    p.add_argument(
        "--last", type=whole(1, 100_000), metavar="N", help="only the newest N runs (1-100,000)"
    )
    _add_history_reading(p)


def _overlap(sub: Commands) -> None:
    p = sub.add_parser(
        "overlap", help="shared contacts and Jaccard index of each pair, from the last exports"
    )
    _add_selection(p)
    _add_history_reading(p)


def _freshness(sub: Commands) -> None:
    p = sub.add_parser(
        "freshness", help="is each last published export recent enough? exit 1 if not"
    )
    _add_selection(p)
    _add_history_reading(p)
    p.add_argument(
        "--notify",
        action="store_true",
        help="send what is stale or never published to the notify: targets with on: [stale]",
    )


def _catalog(sub: Commands) -> None:
    p = sub.add_parser("catalog", help="build a static site describing every segment")
    _add_selection(p)
    p.add_argument(
        "--out",
        dest="folder",
        type=Path,
        default=Path("catalog"),
        metavar="DIR",
        help="where index.html goes (default: catalog/)",
    )
    p.add_argument(
        "--exports",
        type=output_root,
        metavar="DIR",
        help="read the history of exports run with --out DIR (or an s3:// prefix)",
    )


def _diff(sub: Commands) -> None:
    p = sub.add_parser("diff", help="rendered request bodies before and after a git ref")
    p.add_argument("ref", nargs="?", help="git ref (default: merge base with the main branch)")
    p.add_argument("--select", action="append", default=[], metavar="SEL")
    p.add_argument("--exclude", action="append", default=[], metavar="SEL")
    p.add_argument("--format", choices=list(DIFF_FORMATS), default="text")
    p.add_argument("--count", action="store_true", help="also page both versions to count contacts")
    _add_clock(p)


def _init(sub: Commands) -> None:
    p = sub.add_parser("init", help="scaffold a new segments repository with CI workflows")
    p.add_argument("dir", nargs="?", type=Path, default=Path("."))
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    p.add_argument("--ci", choices=["github", "gitlab"], default="github", help="CI to wire")
    p.add_argument(
        "--orchestrator",
        choices=["airflow"],
        help="also write dags/segments_dag.py (in an existing project: only that file)",
    )
    p.add_argument(
        "--runner-source",
        metavar="SPEC",
        help="what CI installs, pinned so it cannot move: segment-runner==VERSION, "
        "'segment-runner @ git+https://...@<40-hex sha>' or "
        "'segment-runner @ <wheel URL>#sha256=<digest>' "
        "(default: where this segments was installed from)",
    )


def _sandbox(sub: Commands) -> None:
    p = sub.add_parser("sandbox", help="serve a local Flowmatix-compatible API until stopped")
    p.add_argument("--host", type=text, default="127.0.0.1")
    p.add_argument(
        "--port", type=whole(0, 65535), default=8765, help="0 picks a free port (default 8765)"
    )
    p.add_argument(
        "--users", type=whole(1, 1_000_000), default=1000, help="contacts to generate (1-1,000,000)"
    )
    p.add_argument("--seed", type=whole(0, 2**63 - 1), default=1)
    p.add_argument("--token", type=token, default="sandbox-token", help="the token clients send")
    p.add_argument("--page-size", type=whole(1, 10_000), default=50, help="1-10,000")
    p.add_argument(
        "--latency-ms", type=number(0, 60_000), default=0.0, help="added to every reply (0-60,000)"
    )
    p.add_argument(
        "--faults",
        type=text,
        default="",
        metavar="SPEC",
        help="e.g. 429=0.1,html=0.05,drop@3",
    )
    p.add_argument(
        "--churn", type=whole(0, 10_000), default=0, metavar="N", help="new contacts per page"
    )
    p.add_argument(
        "--anchor", type=instant, metavar="T", help="instant the data is generated around"
    )
    sandbox_paging(p)
    sandbox_data(p)
