"""The schemas resolve by ``$id`` alone (a registry, ajv) and relative to their files."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable

from runner.spec.loader import load_file
from tests.conftest import CASES, ROOT

SCHEMAS = ROOT / "schemas"
BASE = "https://segment-runner.dev/schemas/"


def schemas() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text("utf-8")) for p in sorted(SCHEMAS.glob("*.json"))}


def registry_from_ids() -> Registry[Any]:
    """Nothing but each schema's own ``$id``: no file names, no retrieval."""

    def refuse(uri: str) -> Resource[Any]:
        raise LookupError(f"tried to fetch {uri}")

    return Registry(retrieve=refuse).with_resources(
        (doc["$id"], Resource.from_contents(doc)) for doc in schemas().values()
    )


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in refs(value)]
    return []


def data_of(path: Path) -> Any:
    doc, problems = load_file(path, str(path))
    assert doc is not None and problems == []
    return doc.data


def test_every_schema_has_a_stable_id_and_relative_refs() -> None:
    found = schemas()
    assert sorted(found) == [
        "contact.schema.json",
        "inbox-users-filter.schema.json",
        "runner.schema.json",
        "segment.schema.json",
    ]
    for name, doc in found.items():
        assert doc["$id"] == BASE + name
        for ref in refs(doc):
            # "#/..." within the file, or "<sibling file>#/..." next to it: the same
            # text resolves against the $id and against the file's own location.
            target = ref.partition("#")[0]
            assert target == "" or target in found, ref


@pytest.mark.parametrize(
    ("schema", "example"),
    [
        *(("segment.schema.json", p) for p in sorted((ROOT / "segments").glob("*.yaml"))),
        ("runner.schema.json", ROOT / "runner.yaml"),
    ],
    ids=lambda v: v.name if isinstance(v, Path) else v,
)
def test_examples_validate_with_a_registry_of_ids(schema: str, example: Path) -> None:
    validator = Draft202012Validator({"$ref": BASE + schema}, registry=registry_from_ids())
    assert list(validator.iter_errors(data_of(example))) == []


def test_the_registry_catches_a_bad_filter_through_the_reference() -> None:
    validator = Draft202012Validator(
        {"$ref": BASE + "segment.schema.json"}, registry=registry_from_ids()
    )
    bad = data_of(CASES / "invalid" / "bad-status.yaml")
    (error,) = validator.iter_errors(bad)
    assert list(error.absolute_path) == ["filter", "status", 1]
    assert error.instance == "CLOSD"


def test_without_ids_the_reference_does_not_resolve() -> None:
    """What ajv said before: a registry keyed by $id cannot find an id-less schema."""
    docs = schemas()
    segment = {k: v for k, v in docs["segment.schema.json"].items() if k != "$id"}
    filt = {k: v for k, v in docs["inbox-users-filter.schema.json"].items() if k != "$id"}
    registry: Registry[Any] = Registry().with_resources(
        [(BASE + "x.json", Resource.from_contents(filt))]
    )
    validator = Draft202012Validator(segment, registry=registry)
    with pytest.raises(Unresolvable):
        validator.validate(data_of(ROOT / "segments" / "vip-whatsapp-last-7-days.yaml"))


def check_jsonschema() -> str:
    found = Path(sys.executable).parent / "check-jsonschema"
    if not found.exists():  # installed by the dev extra (pyproject.toml)
        found = Path(shutil.which("check-jsonschema") or "check-jsonschema")
    return str(found)


@pytest.mark.parametrize(
    ("schema", "files", "ok"),
    [
        ("segment.schema.json", sorted((ROOT / "segments").glob("*.yaml")), True),
        ("runner.schema.json", [ROOT / "runner.yaml"], True),
        ("segment.schema.json", [CASES / "invalid" / "bad-status.yaml"], False),
    ],
)
def test_check_jsonschema_resolves_relative_to_the_files(
    tmp_path: Path, schema: str, files: list[Path], ok: bool
) -> None:
    # A copy far from the project, so nothing but the file's own folder can be used;
    # --base-uri makes refs resolve from the file instead of fetching the https $id.
    folder = tmp_path / "copied"
    shutil.copytree(SCHEMAS, folder)
    result = subprocess.run(
        [
            check_jsonschema(),
            "--schemafile",
            str(folder / schema),
            "--base-uri",
            (folder / schema).as_uri(),
            *map(str, files),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "NO_PROXY": "*"},
    )
    assert (result.returncode == 0) is ok, result.stdout + result.stderr
    if not ok:
        assert "'CLOSD' is not one of" in result.stdout
    assert "Unresolvable" not in result.stdout + result.stderr
