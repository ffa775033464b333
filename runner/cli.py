"""Command line: parse arguments into typed options and call the library.

Exit codes: 0 ok, 1 problems found or a run failed, 2 usage error.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from runner import __version__, commands
from runner.errors import EXIT_FAILED, EXIT_USAGE, RunnerError, Terminated, UsageError
from runner.problems import REPORTERS
from runner.sinks import OutputRoot, parse_output_root
from runner.sinks.local import file_problem

Handler = Callable[[argparse.Namespace], int]
T = TypeVar("T")


def _var(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"--var takes NAME=VALUE, got {text!r}")
    return name.strip(), value


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
    p.add_argument("--as-of", metavar="T", help="freeze the clock (ISO-8601) for relative dates")
    p.add_argument(
        "--var", action="append", type=_var, default=[], metavar="K=V", help="template variable"
    )


def _cmd_validate(args: argparse.Namespace) -> int:
    return commands.validate(_selection(args), args.format, sys.stdout, sys.stderr)


def _cmd_render(args: argparse.Namespace) -> int:
    return commands.render(_selection(args), args.format, args.out, sys.stdout, sys.stderr)


def _cmd_list(args: argparse.Namespace) -> int:
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
        epilog="Exit codes: 0 ok, 1 problems found or a run failed, 2 usage error.",
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
    p.add_argument("--concurrency", type=_positive, help="pages fetched in parallel")
    p.add_argument("--max-pages", type=_positive, help="stop after this many pages")
    p.add_argument("--dry-run", action="store_true", help="fetch and count; publish nothing")
    p.add_argument("--fail-fast", action="store_true", help="stop at the first failed segment")
    p.add_argument("--results", type=_results, metavar="FILE", help="write run results as JSON")
    p.add_argument("--progress", choices=["auto", "live", "log"], default="auto")
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("diff", help="rendered request bodies before and after a git ref")
    p.add_argument("ref", nargs="?", help="git ref (default: merge base with the main branch)")
    p.add_argument("--select", action="append", default=[], metavar="SEL")
    p.add_argument("--exclude", action="append", default=[], metavar="SEL")
    p.add_argument("--format", choices=["text", "markdown", "json"], default="text")
    p.add_argument("--count", action="store_true", help="also page both versions to count contacts")
    _add_clock(p)
    p.set_defaults(func=_cmd_diff)

    p = sub.add_parser("init", help="scaffold a new segments repository with CI workflows")
    p.add_argument("dir", nargs="?", type=Path, default=Path("."))
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    p.set_defaults(func=_cmd_init)

    p = sub.add_parser("sandbox", help="serve a local Flowmatix-compatible API until stopped")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765, help="0 picks a free port (default 8765)")
    p.add_argument("--users", type=_positive, default=1000, help="contacts to generate")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--token", default="sandbox-token", help="the token clients must send")
    p.add_argument("--page-size", type=_positive, default=50)
    p.add_argument("--latency-ms", type=float, default=0.0, help="added to every reply")
    p.add_argument("--faults", default="", metavar="SPEC", help="e.g. 429=0.1,html=0.05,drop@3")
    p.add_argument("--churn", type=int, default=0, metavar="N", help="new contacts per page")
    p.add_argument("--anchor", metavar="T", help="instant the data is generated around")
    p.add_argument("--ignore-page", action="store_true", help="misbehave: always serve page 1")
    p.set_defaults(func=_cmd_sandbox)
    return parser


def _cmd_export(args: argparse.Namespace) -> int:
    from runner.export import ExportOptions

    options = _options(ExportOptions, args)
    live = {"auto": None, "live": True, "log": False}[args.progress]
    return commands.export(_selection(args), options, args.results, live, sys.stdout, sys.stderr)


def _cmd_diff(args: argparse.Namespace) -> int:
    sel = _selection(args)
    return commands.diff(sel, args.ref, args.format, args.count, sys.stdout, sys.stderr)


def _cmd_init(args: argparse.Namespace) -> int:
    from runner.scaffold import init_project

    written = init_project(args.dir, force=args.force)
    for path in written:
        print(f"created {path}")
    print("next: git init && git add . && segments validate")
    return 0


def _options(kind: type[T], args: argparse.Namespace) -> T:
    """A typed options dataclass from the arguments of the same names."""
    names = {f.name for f in dataclasses.fields(kind)}  # type: ignore[arg-type]
    return kind(**{k: v for k, v in vars(args).items() if k in names})


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected 1 or more, got {value}")
    return value


def _cmd_sandbox(args: argparse.Namespace) -> int:
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
        sandbox.serve_forever()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Handler = args.func
    try:
        return func(args)
    except UsageError as exc:
        print(f"segments: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except RunnerError as exc:
        print(f"segments: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(
            "segments: interrupted; nothing was published for the unfinished segment",
            file=sys.stderr,
        )
        return 130
    except Terminated:
        print(
            "segments: terminated; nothing was published for the unfinished segment",
            file=sys.stderr,
        )
        return 143
    except BrokenPipeError:
        return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
