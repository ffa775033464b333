"""Segment files -> typed, rendered segments, with every problem collected.

``load_segment(file, project, clock, variables)`` reads one file, renders its
templates on the run's clock, checks it against ``segment.schema.json`` and the
rules the schema cannot say (:mod:`runner.spec.rules`), and returns
a :class:`Loaded`: the :class:`Segment`, or every
:class:`~runner.problems.Problem` in the file.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.errors import TemplateError
from runner.problems import Problem
from runner.spec import output_rules, rules, schema, targets
from runner.spec.compose import NONE, Composition, composition
from runner.spec.contact import UNCHECKED, source_problem
from runner.spec.files import display_path
from runner.spec.loader import Document, Path_, dotted, load_file, surrogate_problem
from runner.spec.modes import DEFAULT_MODE, mode_problem, parse_mode
from runner.spec.notify import NotifyTarget, notify_targets
from runner.spec.notify import check as check_notify
from runner.spec.project import Project
from runner.spec.saved import SavedName, saved_names
from runner.spec.split import SplitSpec, effective_split, split_problem, split_spec
from runner.spec.templating import Clock, TemplateContext, is_template, render_string

DEFAULT_PATH = "exports/{{ segment.name }}"


@dataclass(frozen=True)
class Column:
    name: str
    source: str
    default: str = ""


@dataclass(frozen=True)
class CsvOptions:
    delimiter: str = ","
    header: bool = True
    bom: bool = False
    list_separator: str = "|"
    formula_guard: bool = True


@dataclass(frozen=True)
class XlsxOptions:
    sheet_name: str = "contacts"
    list_separator: str = "|"


@dataclass(frozen=True)
class ParquetOptions:
    row_group_rows: int = 10_000
    compression: str = "snappy"


@dataclass(frozen=True)
class OutputSpec:
    format: str
    path: str  # rendered: relative local path or s3://bucket/key
    columns: tuple[Column, ...] | None
    compression: str
    csv: CsvOptions
    s3: Mapping[str, Any]
    preset: str | None = None  # runner.rows.presets.PRESETS
    hash: bool | None = None  # None: the preset's default
    rename: Mapping[str, str] = field(default_factory=dict)  # preset header -> new name
    xlsx: XlsxOptions = field(default_factory=XlsxOptions)
    parquet: ParquetOptions = field(default_factory=ParquetOptions)
    delta: bool = False  # also <name>.added.<ext> and <name>.removed.<ext>
    split: SplitSpec | None = None  # numbered parts (runner.spec.split)
    mode: int = DEFAULT_MODE  # of the local files written (runner.spec.modes)
    phone_region: str = ""  # where a phone with no country code is read (runner.rows.phones)
    # The path as written, before rendering: a run whose earlier path this template still
    # renders to replaces that earlier result (runner.run.supersede); "" when not known.
    template: str = ""


@dataclass(frozen=True)
class Segment:
    name: str
    file: str  # as given, relative to the working directory when possible
    description: str
    owner: str
    labels: tuple[str, ...]
    filter: Mapping[str, Any]  # rendered, only what the file sets
    body: Mapping[str, Any]  # complete request body for page 1
    output: OutputSpec
    min_rows: int | None
    max_rows: int | None
    key_pos: Mapping[str, tuple[int, int]] = field(compare=False, repr=False, default_factory=dict)
    mode: str = "full"  # full | incremental (runner.history.window)
    max_change: str | None = None  # expect.max_change as written, e.g. "30%" (schema-checked)
    notify: tuple[NotifyTarget, ...] = ()  # its own, or runner.yaml's
    fresh_within: str | None = None  # expect.fresh_within as written, e.g. "26h" (schema-checked)
    compose: Composition = NONE  # exclude, only, holdout (runner.spec.compose)
    saved_names: tuple[SavedName, ...] = ()  # name: items of filter.segments (runner.spec.saved)
    resolved: tuple[tuple[str, str], ...] = ()  # (name, id) of each name resolved


def _render_tree(
    doc: Document, value: Any, path: Path_, ctx: TemplateContext, problems: list[Problem]
) -> Any:
    if isinstance(value, str) and is_template(value):
        try:
            text = render_string(value, ctx)
        except TemplateError as exc:
            problems.append(doc.problem(path, f"'{dotted(path)}': {exc}"))
            return value
        bad = surrogate_problem(text)  # from a --var or an escape in the template
        if bad:
            problems.append(doc.problem(path, f"'{dotted(path)}' renders to text that {bad}"))
        return text
    if isinstance(value, dict):
        return {k: _render_tree(doc, v, (*path, k), ctx, problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_render_tree(doc, v, (*path, i), ctx, problems) for i, v in enumerate(value)]
    return value


def _merge_output(defaults: Mapping[str, Any], own: Mapping[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(dict(defaults))
    for key, value in own.items():
        if (
            key in ("csv", "s3", "xlsx", "parquet", "split")
            and isinstance(value, dict)
            and isinstance(merged.get(key), dict)
        ):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _columns(
    doc: Document, raw: list[Any] | None, problems: list[Problem]
) -> tuple[Column, ...] | None:
    if raw is None:
        return None
    out: list[Column] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(raw):
        where: Path_ = ("output", "columns", i)
        if isinstance(item, str):
            name, source, default = item, item, ""
        else:
            name, source = item["name"], item.get("expr") or item["path"]
            default = item.get("default", "")
            where = (*where, "expr" if "expr" in item else "path")
        if name in seen:
            problems.append(
                doc.problem(
                    ("output", "columns", i),
                    f"column name '{name}' is used twice (first in column {seen[name] + 1})",
                )
            )
        seen.setdefault(name, i)
        unchecked = isinstance(item, dict) and item.get(UNCHECKED) is True
        why = source_problem(source, unchecked=unchecked)
        if why:
            problems.append(doc.problem(where, f"'{dotted(where)}': {why}"))
            continue
        out.append(Column(name, source, default))
    return tuple(out)


@dataclass(frozen=True)
class Loaded:
    """One segment file: its segment, or what is wrong with it and what it is called.

    ``name`` is the file's ``name:`` if it could be read, else the file stem, so a
    selector can still find a file that failed to load and show its problems.
    """

    file: str
    name: str
    labels: tuple[str, ...]
    segment: Segment | None
    problems: list[Problem]


def load_segment(
    file: Path, project: Project, clock: Clock, variables: Mapping[str, str]
) -> Loaded:
    shown = display_path(file)
    doc, problems = load_file(file, shown)
    if doc is None:
        return Loaded(shown, file.stem, (), None, problems)
    if not isinstance(doc.data, dict):
        problems.append(doc.problem((), "a segment file must be a mapping of keys"))
        return Loaded(shown, file.stem, (), None, problems)
    data: dict[str, Any] = doc.data
    name = data["name"] if isinstance(data.get("name"), str) else file.stem
    raw_labels: list[Any] = data["labels"] if isinstance(data.get("labels"), list) else []
    labels = tuple(label for label in raw_labels if isinstance(label, str))
    ctx = TemplateContext(clock, variables, {"name": name, "labels": list(labels)})
    rendered, template = _render(doc, project, ctx, problems)
    segment = None if problems else _build(doc, rendered, template, project, problems)
    return Loaded(shown, name, labels, segment, problems)


def _render(
    doc: Document, project: Project, ctx: TemplateContext, problems: list[Problem]
) -> tuple[dict[str, Any], str]:
    """The segment with its templates rendered and its output merged with the defaults,
    and its output path as written (before rendering)."""
    data: dict[str, Any] = doc.data
    rendered = dict(data)
    template = ""
    if "filter" in data:
        rendered["filter"] = _render_tree(doc, data["filter"], ("filter",), ctx, problems)
    own_output = data.get("output", {})
    if isinstance(own_output, dict):
        output = _merge_output(project.output_defaults, own_output)
        output.setdefault("format", "csv")
        if "path" not in output:
            ext = targets.EXTENSIONS.get(str(output["format"]), ("",))[0]
            gz = ".gz" if output.get("compression") == "gzip" else ""
            output["path"] = f"{DEFAULT_PATH}{ext}{gz}"
        if isinstance(output["path"], str):
            template = output["path"]
            output["path"] = _render_tree(doc, output["path"], ("output", "path"), ctx, problems)
        rendered["output"] = output
    return rendered, template


def _build(
    doc: Document,
    rendered: dict[str, Any],
    template: str,
    project: Project,
    problems: list[Problem],
) -> Segment | None:
    problems += rules.runner_owned(doc, rendered)
    problems += schema.check(doc, schema.SEGMENT_SCHEMA, data=rendered)
    if problems:
        return None
    body = {**schema.filter_defaults(), **rendered["filter"], "page": 1, "isExport": "none"}
    problems += rules.check_filter(doc, body, rendered["filter"])
    output = rendered["output"]
    why = rules.output_problem(project, output)
    if why:
        problems.append(doc.problem(("output", "path"), why))
    columns = _columns(doc, output.get("columns"), problems)
    problems += output_rules.check(doc, output, [c.name for c in columns or ()])
    bad_split = split_problem(output.get("preset"), output.get("split"))
    output["split"] = effective_split(output.get("preset"), output.get("split"))
    if bad_split:
        key, message = bad_split
        problems.append(doc.problem(("output", "split", *([key] if key else [])), message))
    expect = {**project.expect_defaults, **rendered.get("expect", {})}
    if rendered.get("mode") == "incremental" and "max_change" not in rendered.get("expect", {}):
        # A project-wide max_change is about full audiences; an incremental run's rows are
        # the day's new contacts, which no default bounds (README "Incremental mode").
        expect.pop("max_change", None)
    bounds = rules.expect_problem(doc, expect) or rules.mode_problem(doc, rendered, output)
    if bounds:
        problems.append(bounds)
    problems += check_notify(doc, ("notify",), rendered.get("notify"), project.api.token_env)
    compose = composition(rendered, doc.where, problems, doc.file)
    own = doc.data.get("output")
    why = mode_problem(own["mode"]) if isinstance(own, dict) and "mode" in own else None
    if why:
        problems.append(doc.problem(("output", "mode"), why))
    if problems:
        return None
    return Segment(
        name=rendered["name"],
        file=doc.file,
        description=rendered.get("description", ""),
        owner=rendered.get("owner", ""),
        labels=tuple(rendered.get("labels", [])),
        filter=rendered["filter"],
        body=body,
        output=_output_spec(output, columns, template),
        min_rows=expect.get("min_rows"),
        max_rows=expect.get("max_rows"),
        key_pos={str(k[0]): v for k, v in doc.key_pos.items() if len(k) == 1},
        mode=rendered.get("mode", "full"),
        max_change=expect.get("max_change"),
        notify=notify_targets(rendered["notify"]) if "notify" in rendered else project.notify,
        fresh_within=expect.get("fresh_within"),
        compose=compose,
        saved_names=saved_names(doc, body["segments"]),
    )


def _output_spec(
    output: Mapping[str, Any], columns: tuple[Column, ...] | None, template: str
) -> OutputSpec:
    return OutputSpec(
        format=output["format"],
        path=output["path"],
        columns=columns,
        compression=output.get("compression", "none"),
        csv=CsvOptions(**output.get("csv", {})),
        s3=output.get("s3", {}),
        preset=output.get("preset"),
        hash=output.get("hash"),
        rename=output.get("rename", {}),
        xlsx=XlsxOptions(**output.get("xlsx", {})),
        parquet=ParquetOptions(**output.get("parquet", {})),
        delta=output.get("delta", False),
        split=split_spec(output.get("split")),
        mode=parse_mode(output.get("mode")),
        phone_region=output.get("phone_region", ""),
        template=template,
    )
