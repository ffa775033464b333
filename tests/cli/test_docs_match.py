"""The help and the README name what the tool has: every format, preset and command they
name exists, and every one that exists is named (the registries are the oracle)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from runner.cli.args import build_parser
from runner.formats import FORMATS
from runner.rows.presets import PRESETS

README = (Path(__file__).resolve().parents[2] / "README.md").read_text("utf-8")
PARSER = build_parser()
SUB = next(a for a in PARSER._actions if isinstance(a, argparse._SubParsersAction))
COMMANDS = set(SUB.choices)
_SELECTION_TEXT = README.split("Selection works the same everywhere", 1)[1].split("\n\n", 1)[0]
SELECTION = set(re.findall(r"--[a-z][a-z-]*", _SELECTION_TEXT))
SELECTING = {
    name
    for name, sub in SUB.choices.items()
    if any("--select" in a.option_strings for a in sub._actions)
}


def one_line(text: str) -> str:
    return " ".join(text.split())


def listed(text: str) -> list[str]:
    """``a, b, c or d`` -> ``[a, b, c, d]`` (backticks dropped)."""
    return [w.strip("` ") for w in re.split(r",\s*|\s+or\s+", text.strip())]


def test_the_commands_in_segments_help_are_the_commands() -> None:
    help_text = PARSER.format_help()
    section = help_text.split("COMMAND\n", 1)[1].split("\n\n", 1)[0]
    named = set(re.findall(r"^ {4}([a-z]+) ", section, re.MULTILINE))
    assert named == COMMANDS
    assert len(COMMANDS) >= 8


def test_the_formats_in_segments_help_are_the_formats() -> None:
    text = one_line(PARSER.format_help())
    match = re.search(r"export fetch every page and publish (.+?) \(or a platform preset\)", text)
    assert match is not None, text
    assert listed(match.group(1)) == list(FORMATS)
    assert "CSV/JSONL" not in text


def test_export_help_names_every_format_and_preset() -> None:
    text = one_line(SUB.choices["export"].format_help())
    formats = re.search(r"publish it as (.+?) \(output\.format", text)
    presets = re.search(r"\(output\.preset: ([^)]+)\)", text)
    assert formats is not None and presets is not None, text
    assert listed(formats.group(1)) == list(FORMATS)
    assert listed(presets.group(1)) == list(PRESETS)
    assert "--progress {auto,live,log} live:" in text  # the option has its help text


def test_the_readme_names_every_command_and_only_commands() -> None:
    named = set(re.findall(r"`segments ([a-z]+)", README))
    named |= set(re.findall(r"^segments ([a-z]+)", README, re.MULTILINE))  # code blocks
    assert named == COMMANDS
    table = set(re.findall(r"^\| `segments ([a-z]+)", README, re.MULTILINE))
    assert table == COMMANDS  # the Command line table has a row for each


def test_the_readme_names_every_format_and_only_formats() -> None:
    match = re.search(r"`output\.format` is one of (.+?) \(", one_line(README))
    assert match is not None
    assert listed(match.group(1)) == list(FORMATS)
    written = set(re.findall(r"\bformat: ([a-z]+)", README))
    assert written and written <= set(FORMATS)


def test_the_readme_names_every_preset_and_only_presets() -> None:
    section = README.split("### Presets for hand-off platforms", 1)[1].split("\n### ", 1)[0]
    rows = re.findall(r"^\| `([a-z_]+)` \|", section, re.MULTILINE)
    assert rows[: len(PRESETS)] == list(PRESETS)  # the presets table, in the registry's order
    assert set(rows) == set(PRESETS)  # and the limits table names no other
    written = set(re.findall(r"\bpreset: ([a-z_]+)", README))
    assert written <= set(PRESETS)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_option_of_a_command_is_in_its_readme_row(command: str) -> None:
    row = re.search(rf"^\| `segments {command}(?: [^`]*)?` \|", README, re.MULTILINE)
    assert row is not None, command
    options = {
        opt
        for action in SUB.choices[command]._actions
        for opt in action.option_strings
        if opt.startswith("--") and opt != "--help"
    }
    shared = SELECTION & options if command in SELECTING else set()  # "Selection works..."
    named = set(re.findall(r"--[a-z][a-z-]*", row.group(0))) | shared
    assert named == options, command
