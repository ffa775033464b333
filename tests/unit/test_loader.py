from __future__ import annotations

from runner.loader import MAX_NODES, load_yaml


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
