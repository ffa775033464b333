"""Command line: parse arguments into typed options and call the library.

:func:`main` is the one place that turns outcomes and errors into exit codes
(:class:`runner.errors.ExitCode`): 0 ok, 1 problems found, a run failed or an OS
failure, 2 usage error, 130 Ctrl-C, 143 SIGTERM. It is also where process-wide
things are set: the SIGTERM handler and, for exports, the GC threshold.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from runner import __version__, commands
from runner.args import MAX_CONCURRENCY, instant, number, text, token, var, whole
from runner.commands import Outcome
from runner.errors import ExitCode, RunnerError, Terminated, UsageError
from runner.process import STDOUT, fewer_gc_passes, named_stdout, release_stdout, sigterm_raises
from runner.report import REPORTERS
from runner.report.diff import DIFF_FORMATS
from runner.sinks import OutputRoot, parse_output_root
from runner.sinks.local import file_problem

Handler = Callable[[argparse.Namespace], Outcome]
T = TypeVar("T")

EXIT_CODES = {
    Outcome.OK: ExitCode.OK,
    Outcome.PROBLEMS: ExitCode.FAILED,
    Outcome.FAILED: ExitCode.FAILED,
}
# Raised by user input that is too deep, too big or badly encoded (a template, a value, a
# file name); shown as one line with the exception type. SEGMENTS_TRACEBACK=1 shows where.
INPUT_ERRORS = (RecursionError, MemoryError, UnicodeError, OverflowError)


def _selection(args: argparse.Namespace) -> commands.Selection:
    selectors = [*getattr(args, "segments", []), *getattr(args, "select", [])]
    return commands.Selection(
        project=args.project,
        selectors=selectors,
        exclude=getattr(args, "exclude", []),
        as_of=getattr(args, "as_of", None),
        variables=dict(getattr(args, "var", []) or []),
        state_ref=getattr(args, "state", None),
        paths=[Path(p) for p in getattr(args, "paths", [])],
    )


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


def _cmd_validate(args: argparse.Namespace) -> Outcome:
    return commands.validate(_selection(args), args.format, sys.stdout, sys.stderr)


def _cmd_render(args: argparse.Namespace) -> Outcome:
    return commands.render(_selection(args), args.format, args.out, sys.stdout, sys.stderr)


def _cmd_list(args: argparse.Namespace) -> Outcome:
    return commands.list_segments(_selection(args), args.format, args.out, sys.stdout, sys.stderr)


def _out(text: str) -> OutputRoot:
    """--out, parsed once: an empty, malformed or '..' value is a usage error."""
    try:
        return parse_output_root(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _results(text: str) -> Path:
    """--results: a folder or an unwritable place is a usage error, before anything runs."""
    problem = file_problem(Path(text)) if text else "is empty: give a file name"
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return Path(text)


def build_parser() -> argparse.ArgumentParser:
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

    p = sub.add_parser("validate", help="check segment files; exit 1 on any problem")
    p.add_argument("paths", nargs="*", metavar="PATH", help="files or folders (default: segments/)")
    p.add_argument("--format", choices=sorted(REPORTERS), default="text")
    _add_selection(p, positional=False)
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("render", help="print the exact request body and output path; no network")
    _add_selection(p)
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.add_argument("--out", type=_out, metavar="DIR", help="show paths re-rooted under DIR")
    p.set_defaults(func=_cmd_render)

    p = sub.add_parser("list", help="list segments: name, labels, format, output, file")
    _add_selection(p)
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.add_argument("--out", type=_out, metavar="DIR", help="show paths re-rooted under DIR")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("export", help="fetch every page and publish CSV/JSONL with a manifest")
    _add_selection(p)
    p.add_argument(
        "--out", type=_out, metavar="DIR", help="re-root output under DIR (or an s3:// prefix)"
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
    p.add_argument("--results", type=_results, metavar="FILE", help="write run results as JSON")
    p.add_argument("--progress", choices=["auto", "live", "log"], default="auto")
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("diff", help="rendered request bodies before and after a git ref")
    p.add_argument("ref", nargs="?", help="git ref (default: merge base with the main branch)")
    p.add_argument("--select", action="append", default=[], metavar="SEL")
    p.add_argument("--exclude", action="append", default=[], metavar="SEL")
    p.add_argument("--format", choices=list(DIFF_FORMATS), default="text")
    p.add_argument("--count", action="store_true", help="also page both versions to count contacts")
    _add_clock(p)
    p.set_defaults(func=_cmd_diff)

    p = sub.add_parser("init", help="scaffold a new segments repository with CI workflows")
    p.add_argument("dir", nargs="?", type=Path, default=Path("."))
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    p.add_argument("--ci", choices=["github", "gitlab"], default="github", help="CI to wire")
    p.add_argument(
        "--runner-source",
        metavar="SPEC",
        help="what CI installs, pinned: git+https://...@SHA, a wheel URL or NAME==VERSION "
        "(default: where this segments was installed from)",
    )
    p.set_defaults(func=_cmd_init)

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
    p.add_argument("--ignore-page", action="store_true", help="misbehave: always serve page 1")
    p.add_argument(
        "--skip-cost-us",
        type=number(0, 10_000),
        default=0.0,
        metavar="X",
        help="page N waits (N-1) x page size x X microseconds, as a database skipping rows",
    )
    p.add_argument(
        "--capacity",
        type=whole(0, 10_000),
        default=0,
        metavar="N",
        help="serve at most N requests at once, answer more with 429 (0: no limit)",
    )
    p.set_defaults(func=_cmd_sandbox)
    return parser


def _cmd_export(args: argparse.Namespace) -> Outcome:
    from runner.export import ExportOptions

    options = _options(ExportOptions, args)
    live = {"auto": None, "live": True, "log": False}[args.progress]
    with fewer_gc_passes():
        return commands.export(
            _selection(args), options, args.results, live, sys.stdout, sys.stderr
        )


def _cmd_diff(args: argparse.Namespace) -> Outcome:
    sel = _selection(args)
    return commands.diff(sel, args.ref, args.format, args.count, sys.stdout, sys.stderr)


def _cmd_init(args: argparse.Namespace) -> Outcome:
    from runner.scaffold import init

    init(args.dir, force=args.force, ci=args.ci, runner_source=args.runner_source)
    return Outcome.OK


def _options(kind: type[T], args: argparse.Namespace) -> T:
    """A typed options dataclass from the arguments of the same names."""
    names = {f.name for f in dataclasses.fields(kind)}  # type: ignore[arg-type]
    return kind(**{k: v for k, v in vars(args).items() if k in names})


def _cmd_sandbox(args: argparse.Namespace) -> Outcome:
    from runner.sandbox.server import Sandbox, SandboxOptions

    options = _options(SandboxOptions, args)
    try:
        sandbox = Sandbox(options)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from exc
    print(f"sandbox: {args.users} contacts (seed {args.seed}), page size {args.page_size}")
    print(f"export FLOWMATIX_API_URL={sandbox.url}")
    print(f"export FLOWMATIX_TOKEN={args.token}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        sandbox.serve_forever()  # stopping the sandbox is its normal end: exit 0
    print(sandbox.gate.report(), flush=True)
    return Outcome.OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code (the only place one is chosen)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help and --version exit 0; argparse's usage errors exit 2
        return ExitCode.OK if exc.code in (0, None) else ExitCode.USAGE
    with named_stdout():
        code = _exit_code(args)
        failed = release_stdout()
    return code if failed is None or code != ExitCode.OK else _os_failure(failed)


def _exit_code(args: argparse.Namespace) -> ExitCode:
    try:
        return EXIT_CODES[_run(args)]
    except UsageError as exc:
        return _fail(ExitCode.USAGE, str(exc))
    except RunnerError as exc:
        return _fail(ExitCode.FAILED, str(exc))
    except KeyboardInterrupt:
        return _fail(ExitCode.INTERRUPTED, _unfinished("interrupted", args), prefix="segments")
    except Terminated:
        return _fail(ExitCode.TERMINATED, _unfinished("terminated", args), prefix="segments")
    except OSError as exc:
        return _os_failure(exc)
    except INPUT_ERRORS as exc:
        if os.environ.get("SEGMENTS_TRACEBACK"):
            raise
        return _fail(ExitCode.FAILED, f"{type(exc).__name__}: {exc}".rstrip(": "))


def _run(args: argparse.Namespace) -> Outcome:
    func: Handler = args.func
    if func is _cmd_sandbox:  # stops cleanly on SIGTERM by itself
        return func(args)
    with sigterm_raises():  # every `finally` runs: temporaries removed, uploads aborted
        return func(args)


def _fail(code: ExitCode, message: str, prefix: str = "segments: error") -> ExitCode:
    print(f"{prefix}: {message}", file=sys.stderr)
    return code


def _unfinished(what: str, args: argparse.Namespace) -> str:
    if args.command == "export":
        return f"{what}; nothing was published for the unfinished segment"
    return what


def _os_failure(exc: OSError) -> ExitCode:
    """One line: ``path: reason`` (``a -> b: reason`` for a rename), whatever the names hold."""
    if isinstance(exc, BrokenPipeError) and exc.filename == STDOUT:
        return ExitCode.FAILED  # `segments list | head -1`: the reader has gone, nothing to say
    reason = exc.strerror or str(exc)
    names = [os.fsdecode(n) for n in (exc.filename, exc.filename2) if n is not None]
    shown = [n if n.isprintable() else repr(n) for n in names]
    return _fail(ExitCode.FAILED, f"{' -> '.join(shown)}: {reason}" if shown else reason)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
