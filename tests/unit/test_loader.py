from __future__ import annotations

import os
from pathlib import Path

from runner.spec.files import MAX_BYTES, read_text
from runner.spec.loader import MAX_DEPTH, MAX_INT, MAX_NODES, load_yaml


def test_positions_point_at_values_and_keys() -> None:
    doc, problems = load_yaml("a:\n  b: [1, 2]\n  c: x\n", "f.yaml")
    assert problems == []
    assert doc is not None
    assert doc.data == {"a": {"b": [1, 2], "c": "x"}}
    assert doc.where(("a", "b", 1)) == (2, 10)
    assert doc.where(("a", "c"), key=True) == (3, 3)
    # An unknown deeper path falls back to its nearest known parent.
    assert doc.where(("a", "c", "zz")) == (3, 6)


def test_timestamps_stay_strings() -> None:
    doc, _ = load_yaml("at: 2026-11-20T12:00:00Z\nday: 2026-11-20\n", "f.yaml")
    assert doc is not None
    assert doc.data == {"at": "2026-11-20T12:00:00Z", "day": "2026-11-20"}


def test_python_tags_are_refused() -> None:
    doc, problems = load_yaml("x: !!python/object/apply:os.system ['true']\n", "f.yaml")
    assert doc is None
    assert (
        problems[0].message
        == "unsupported YAML tag 'tag:yaml.org,2002:python/object/apply:os.system'"
    )


def test_alias_expansion_is_bounded() -> None:
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]']
    for i in range(1, 8):
        refs = ",".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    doc, problems = load_yaml("\n".join(lines) + "\n", "bomb.yaml")
    assert doc is None
    assert f"more than {MAX_NODES}" in problems[0].message


def test_small_aliases_are_fine() -> None:
    doc, problems = load_yaml("a: &x [1]\nb: *x\n", "f.yaml")
    assert problems == []
    assert doc is not None and doc.data == {"a": [1], "b": [1]}


def test_several_duplicate_keys_all_reported() -> None:
    _, problems = load_yaml("a: 1\na: 2\nb: 1\nb: 3\n", "f.yaml")
    assert [(p.line, p.message) for p in problems] == [
        (2, "duplicate key 'a' (first defined on line 1)"),
        (4, "duplicate key 'b' (first defined on line 3)"),
    ]


def test_yaml_12_floats_are_numbers() -> None:
    doc, problems = load_yaml("a: 1e300\nb: 2E-3\nc: e5\nd: 1e\n", "f.yaml")
    assert problems == [] and doc is not None
    assert doc.data == {"a": 1e300, "b": 0.002, "c": "e5", "d": "1e"}


def test_nesting_is_cut_at_the_limit_not_at_python_recursion() -> None:
    ok, problems = load_yaml("a: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "\n", "f")
    assert problems == [] and ok is not None
    doc, problems = load_yaml("a: " + "[" * 5000 + "\n", "f.yaml")
    assert doc is None
    assert [(p.line, p.col, p.message) for p in problems] == [
        (1, 4 + MAX_DEPTH - 1, f"values are nested more than {MAX_DEPTH} levels deep")
    ]


def test_integers_within_64_bits() -> None:
    doc, problems = load_yaml(f"a: {MAX_INT}\nb: {-MAX_INT - 1}\n", "f.yaml")
    assert problems == [] and doc is not None and doc.data["a"] == MAX_INT
    _, problems = load_yaml(f"a: {MAX_INT + 1}\nb: 0x{'f' * 40}\n", "f.yaml")
    assert [(p.line, p.col) for p in problems] == [(1, 4), (2, 4)]
    assert all("out of range" in p.message for p in problems)


def test_control_characters_point_at_their_line_and_column() -> None:
    doc, problems = load_yaml("a: 1\nb: x\x1by\n", "f.yaml")
    assert doc is None
    assert str(problems[0]).startswith("f.yaml:2:5: invalid YAML: control character U+001B (ESC)")


def test_lone_surrogates_in_keys_and_values() -> None:
    doc, problems = load_yaml('a: "\\udc80"\n"b\\ud800": 1\nc: [ok, "\\udfff"]\n', "f.yaml")
    assert doc is not None
    assert [(p.line, p.col) for p in problems] == [(1, 4), (2, 1), (3, 9)]
    assert all("lone surrogate" in p.message for p in problems)
    assert all(str(p).isprintable() for p in problems)


def test_read_text_names_the_first_byte_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_bytes("a: é\n".encode() + b"b: caf\xe9\n")  # line 1 is UTF-8, line 2 latin-1
    text, problems = read_text(path, "f.yaml")
    assert text is None
    assert str(problems[0]).startswith("f.yaml:2:7: file is not UTF-8 text: byte 0xE9")


def test_read_text_reads_at_most_the_limit(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    _, problems = read_text(fifo, "pipe.yaml")  # returns at once: never blocks on a FIFO
    assert problems[0].message == "not a regular file (a FIFO): only regular files are read"
    big = tmp_path / "big.yaml"
    big.write_bytes(b"a" * (MAX_BYTES + 1))
    _, problems = read_text(big, "big.yaml")
    assert problems[0].message == f"file is larger than {MAX_BYTES} bytes (1 MiB)"
