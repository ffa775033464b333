"""The :class:`~runner.sinks.base.Destination` interface, run against both of its kinds:
a local output root and a bucket on a real S3 server (moto's, over a socket). Every test
asks only what the interface says (the run's own calls), then reads the result back
with the kind's own tools (the file system, boto3)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any, cast

import pytest

from runner.errors import DestinationError
from runner.formats.split import PartFigures, PartSink
from runner.history import open_history
from runner.sinks import Destination, OutputRoot, destination_for, parse_output_root
from runner.sinks.base import TEMP_PREFIX, published_sha256, set_name
from runner.sinks.group import publish_group
from runner.spec.segment import Segment
from runner.spec.split import SplitSpec
from runner.spec.workspace import Workspace
from tests.conftest import ANCHOR, make_project
from tests.integration.s3servers import S3Server, reset_moto

SEGMENT = """\
version: 1
name: t
filter: {isContact: false, applicableFilters: []}
output:
  format: csv
  path: out/t.csv
"""


@dataclasses.dataclass
class Place:
    """Where one kind of destination publishes: ``out/...`` is the home folder (local) or
    ``s3://<bucket>/out/...``; ``gone/...`` a folder, or a bucket, a test can take away."""

    kind: str
    ws: Workspace
    seg: Segment
    client: Any = None
    bucket: str = ""  # the home bucket; the one that can go is ``gone-`` + its name

    def path(self, rel: str) -> str:
        if self.kind == "local":
            return rel
        folder, _, name = rel.partition("/")
        return f"s3://{self.bucket}/{rel}" if folder == "out" else f"s3://gone-{self.bucket}/{name}"

    def dest(self, rel: str, split: SplitSpec | None = None, out: str | None = None) -> Destination:
        output = dataclasses.replace(self.seg.output, path=self.path(rel), split=split)
        seg = dataclasses.replace(self.seg, output=output)
        root: OutputRoot | None = parse_output_root(out) if out else None
        return destination_for(seg, self.ws.project, root)

    def _bucket_key(self, rel: str) -> tuple[str, str]:
        bucket, _, key = self.path(rel)[len("s3://") :].partition("/")
        return bucket, key

    def read(self, rel: str) -> bytes | None:
        if self.kind == "local":
            path = self.ws.project.local_root / rel
            return path.read_bytes() if path.exists() else None
        bucket, key = self._bucket_key(rel)
        try:
            return bytes(self.client.get_object(Bucket=bucket, Key=key)["Body"].read())
        except self.client.exceptions.NoSuchKey:
            return None

    def names(self, folder: str = "out") -> set[str]:
        """Every file (or object) name in ``folder``, hidden ones included."""
        if self.kind == "local":
            return {p.name for p in (self.ws.project.local_root / folder).iterdir()}
        bucket, key = self._bucket_key(f"{folder}/x")
        prefix = key[:-1]
        reply = self.client.list_objects_v2(Bucket=bucket, Prefix=prefix)
        return {item["Key"][len(prefix) :] for item in reply.get("Contents", [])}

    def vanish(self, folder: str) -> None:
        """The folder (the bucket) the destination writes to is taken away."""
        if self.kind == "local":
            shutil.rmtree(self.ws.project.local_root / folder)
        else:
            self.client.delete_bucket(Bucket=f"{folder}-{self.bucket}")


@pytest.fixture(params=["local", "moto"])
def place(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Place:
    project = make_project(tmp_path / "project", {"t": SEGMENT})
    ws = Workspace.open(project, as_of=ANCHOR, env={})
    (seg,) = ws.select(["t"])
    if request.param == "local":
        (project / "gone").mkdir()
        return Place("local", ws, seg)
    server: S3Server = request.getfixturevalue("moto_server")  # one per test process
    reset_moto(server)
    for name, value in server.env().items():
        monkeypatch.setenv(name, str(value))
    client, bucket = server.client(), "exports"
    for name in (bucket, f"gone-{bucket}"):
        client.create_bucket(Bucket=name)
    return Place("moto", ws, seg, client, bucket)


def _publish(dest: Destination, data: bytes, manifest: bytes) -> None:
    upload = dest.open("text/csv")
    upload.write(data)
    upload.publish(manifest, {"rows": "1", "sha256": hashlib.sha256(data).hexdigest()})


def _temporaries(place: Place, folder: str = "out") -> set[str]:
    return {name for name in place.names(folder) if name.startswith(TEMP_PREFIX)}


def test_publish_puts_the_file_and_its_manifest_and_the_next_replaces_them(
    place: Place,
) -> None:
    dest = place.dest("out/t.csv")
    assert published_sha256(dest) is None
    for data, manifest in ((b"id\n1\n", b'{"v": 1}'), (b"id\n2\n3\n", b'{"v": 2}')):
        _publish(dest, data, manifest)
        assert place.read("out/t.csv") == data
        assert place.read("out/t.csv.manifest.json") == manifest
        assert published_sha256(dest) == hashlib.sha256(data).hexdigest()
    assert dest.manifest_display.endswith("out/t.csv.manifest.json")
    assert dest.shown_manifest(0) == dest.manifest_display
    assert place.names() == {"t.csv", "t.csv.manifest.json"}


def test_an_aborted_upload_leaves_the_previous_file_and_nothing_else(place: Place) -> None:
    dest = place.dest("out/t.csv")
    _publish(dest, b"id\n1\n", b'{"v": 1}')
    for written in (b"", b"id\n2\n" * 1000):
        upload = dest.open("text/csv")
        upload.write(written)
        upload.abort()
        assert place.read("out/t.csv") == b"id\n1\n"
        assert place.read("out/t.csv.manifest.json") == b'{"v": 1}'
        assert place.names() == {"t.csv", "t.csv.manifest.json"}


def _publish_parts(dest: Destination, parts: list[bytes]) -> bytes:
    """Publish ``parts`` as a split output's set; returns its manifest."""
    upload = dest.open("text/csv")
    sink = cast(PartSink, upload)  # what the split encoder writes the parts through
    listed = []
    for number, data in enumerate(parts, 1):
        sink.open_part(number).write(data)
        figures = PartFigures(number, 1, len(data), hashlib.sha256(data).hexdigest())
        sink.end_part(figures)
        listed.append({"number": number, "bytes": len(data), "sha256": figures.sha256})
    manifest = json.dumps({"part_count": len(parts), "parts": listed}).encode()
    upload.publish(manifest, {})
    return manifest


@pytest.mark.parametrize("count", [2, 3])
def test_parts_are_one_set_and_one_plain_file_replaces_it(place: Place, count: int) -> None:
    split = place.dest("out/t.csv", SplitSpec(max_rows=1))
    parts = [f"id\n{n}\n".encode() for n in range(1, count + 1)]
    manifest = _publish_parts(split, parts)
    names = {f"t-{n:04d}.csv" for n in range(1, count + 1)}
    assert place.names() == names | {"t.csv.parts.manifest.json"}
    assert [place.read(f"out/t-{n:04d}.csv") for n in range(1, count + 1)] == parts
    assert place.read("out/t.csv.parts.manifest.json") == manifest
    assert split.shown_manifest(count).endswith("out/t.csv.parts.manifest.json")
    assert split.shown_manifest(0).endswith("out/t.csv.manifest.json")
    assert published_sha256(split) == hashlib.sha256(b"".join(parts)).hexdigest()

    plain = place.dest("out/t.csv")  # split turned off: one file; the set stays for now
    _publish(plain, b"id\n9\n", b'{"plain": true}')
    assert place.names() == names | {"t.csv.parts.manifest.json", "t.csv", "t.csv.manifest.json"}
    assert published_sha256(split) == hashlib.sha256(b"id\n9\n").hexdigest()
    # then the run removes what the set's manifest listed (runner.run.supersede): only a
    # file or manifest that is still what was listed
    whole = plain.sibling(set_name)
    first = place.dest("out/t-0001.csv")
    sha = [hashlib.sha256(data).hexdigest() for data in parts]
    assert not first.remove_published(len(parts[0]), sha[1])  # other bytes
    assert not first.remove_published(len(parts[0]) + 1, sha[0])  # another size
    assert not place.dest("out/t-0009.csv").remove_published(len(parts[0]), sha[0])  # none
    assert not whole.remove_manifest(manifest + b" ")
    assert place.names() == names | {"t.csv.parts.manifest.json", "t.csv", "t.csv.manifest.json"}
    assert whole.read_manifest() == manifest and plain.read_manifest() == b'{"plain": true}'
    assert whole.remove_manifest(manifest) and whole.read_manifest() is None
    for number, data in enumerate(parts, 1):
        assert place.dest(f"out/t-{number:04d}.csv").remove_published(len(data), sha[number - 1])
    assert place.names() == {"t.csv", "t.csv.manifest.json"}


def test_a_file_is_removed_only_while_it_is_the_one_listed(place: Place) -> None:
    """Bytes the runner did not write stay even under a listed name, and an object with
    no sha256 metadata (put by hand) is read and hashed."""
    data = b"id\n1\n2\n"
    sha = hashlib.sha256(data).hexdigest()
    dest = place.dest("out/t.csv")
    _publish(dest, b"id\n7\n8\n", b"{}")  # the same size, other bytes
    assert not dest.remove_published(len(data), sha)
    assert place.read("out/t.csv") == b"id\n7\n8\n"
    if place.kind == "local":
        (place.ws.project.local_root / "out" / "t.csv").write_bytes(data)
    else:
        place.client.put_object(Bucket=place.bucket, Key="out/t.csv", Body=data)
    assert dest.remove_published(len(data), sha)
    assert place.read("out/t.csv") is None


def test_fewer_parts_replace_their_namesakes(place: Place) -> None:
    """The parts past the new count are the run's to remove, by the old manifest
    (runner.run.supersede; tests/integration/test_superseded.py)."""
    split = place.dest("out/t.csv", SplitSpec(max_rows=1))
    _publish_parts(split, [b"a\n", b"b\n", b"c\n"])
    manifest = _publish_parts(split, [b"x\n"])
    assert place.names() == {"t-0001.csv", "t-0002.csv", "t-0003.csv", "t.csv.parts.manifest.json"}
    assert place.read("out/t-0001.csv") == b"x\n"
    assert place.read("out/t.csv.parts.manifest.json") == manifest


def _group(place: Place, rels: list[str], tag: bytes) -> None:
    """Publish ``rels[0]`` with ``rels[1:]`` as its companions, each holding ``tag``."""
    main, *others = (place.dest(rel).open("text/csv") for rel in rels)
    companions = list(others)
    for upload in (main, *companions):
        upload.write(tag)
    publish_group(main, companions, b'{"m": "' + tag + b'"}', {})


def test_a_group_is_published_together(place: Place) -> None:
    rels = ["out/t.csv", "out/t-added.csv", "out/t-removed.csv"]
    for tag in (b"one", b"two"):
        _group(place, rels, tag)
        assert [place.read(rel) for rel in rels] == [tag, tag, tag]
        assert place.read("out/t.csv.manifest.json") == b'{"m": "' + tag + b'"}'
    assert place.names() == {"t.csv", "t.csv.manifest.json", "t-added.csv", "t-removed.csv"}


@pytest.mark.parametrize(
    "rels",
    [
        # the second companion cannot be placed: the first is put back
        ["out/t.csv", "out/t-added.csv", "gone/t-removed.csv"],
        # the file itself cannot be published: both companions are put back
        ["gone/t.csv", "out/t-added.csv", "out/t-removed.csv"],
    ],
    ids=["second-companion", "main-file"],
)
def test_a_failure_mid_group_keeps_the_previous_files(place: Place, rels: list[str]) -> None:
    before = ["out/t.csv", "out/t-added.csv", "out/t-removed.csv"]
    _group(place, before, b"old")
    kept = {rel: place.read(rel) for rel in [*before, "out/t.csv.manifest.json"]}
    main, *others = (place.dest(rel).open("text/csv") for rel in rels)
    for upload in (main, *others):
        upload.write(b"new")
    place.vanish("gone")
    with pytest.raises(DestinationError):
        publish_group(main, list(others), b'{"m": "new"}', {})
    for upload in (main, *others):  # as a failed run does
        upload.abort()
    assert {rel: place.read(rel) for rel in kept} == kept
    assert not _temporaries(place)


@pytest.mark.parametrize("under", [None, "try-1", "try-2/deep"])
def test_the_history_lives_where_the_destination_was_made(
    place: Place, tmp_path: Path, under: str | None
) -> None:
    out: str | None = None
    if under is None:
        local = place.ws.project.local_root
        expected = str(local.resolve()) if place.kind == "local" else f"s3://{place.bucket}"
    elif place.kind == "local":
        out, expected = str(tmp_path / under), str((tmp_path / under).resolve())
    else:
        out = expected = f"s3://{place.bucket}/{under}"
    dest = place.dest("out/t.csv", out=out)
    root = dest.state_root()
    store = open_history(root.where, client=root.client)
    assert store.where.rstrip("/") == open_history(expected).where.rstrip("/")
    split = place.dest("out/t.csv", SplitSpec(max_rows=1), out=out)
    assert split.state_root().where == root.where
