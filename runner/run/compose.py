"""Audiences from audiences, in a run: ``exclude``, ``only`` and ``holdout``
(:mod:`runner.spec.compose` reads the keys).

:class:`Audiences` holds, for one run, the id set of every segment another one
references, each built once: from the pages the referenced segment's own export
read earlier in the run (its export is ordered first, :meth:`Audiences.order`), or
fetched once with its own filter (and its own ``exclude``/``only``, recursively), or
(``from: last-published``) read from the id snapshot its last successful run stored,
with no request. Ids are kept as digests (:class:`~runner.fetch.records.SeenIds`, about
20 bytes an id), never as values or rows.

:class:`Router` is the export's one seam: each de-duplicated page goes through
:meth:`Router.route`, which returns the records to publish and those held back.
Records without an id cannot be matched: ``exclude`` keeps them, ``only`` drops them,
and they are never held back (a holdout must hold the same contacts next run).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from hashlib import blake2b
from typing import Any, Protocol

from runner.errors import HistoryError, RunnerError
from runner.fetch import PageFetcher
from runner.fetch.records import SeenIds
from runner.formats import Encoder, content_type
from runner.history import last_success
from runner.history.record import parse_time
from runner.history.snapshot import SnapshotBase, canonical, digest
from runner.rows.columns import compile_many
from runner.run.remember import HistoryRun, store_for, with_path
from runner.sinks import Destination, DiscardUpload, OutputRoot, Upload, destination_for
from runner.spec.compose import HOLDOUT_TAG, LAST_PUBLISHED, RUN, Holdout, Reference
from runner.spec.segment import Segment
from runner.spec.targets import tagged_path
from runner.spec.workspace import Workspace


class IdSet(Protocol):
    def __contains__(self, key: Any) -> bool: ...


class _Snapshot:
    """A published id snapshot as an :class:`IdSet` (its digests: runner.history.snapshot)."""

    def __init__(self, base: SnapshotBase) -> None:
        self.base = base

    def __contains__(self, key: Any) -> bool:
        return self.base.mark([digest(canonical(key))])[0]


def held_back(key: Any, holdout: Holdout) -> bool:
    """Whether the contact with id ``key`` is held back: the first 8 bytes of BLAKE2b
    keyed with the salt, over the id's canonical JSON, read as a fraction of 2⁶⁴.

    >>> from fractions import Fraction
    >>> held_back("64f1c2a9e4b0a1b2c3d4e5f6", Holdout(Fraction(1, 2), "q4-2026", "50%"))
    False
    """
    return _draw(_salt_key(holdout.salt), key) < holdout.share * 2**64


def _salt_key(salt: str) -> bytes:
    raw = salt.encode("utf-8", "surrogatepass")
    return raw if len(raw) <= 64 else blake2b(raw, digest_size=64).digest()  # BLAKE2b's limit


def _draw(key: bytes, value: Any) -> int:
    return int.from_bytes(blake2b(canonical(value), key=key, digest_size=8).digest(), "big")


@dataclass
class Router:
    """One segment's composition over its pages; counts what it did."""

    ids_of: Callable[[list[Any]], list[Any]]
    excludes: Sequence[IdSet] = ()
    onlys: Sequence[IdSet] = ()
    holdout: Holdout | None = None
    tap: SeenIds | None = None  # this audience's ids, for a later segment of the run
    on_done: Callable[[SeenIds], None] | None = None
    sources: list[dict[str, Any]] = field(default_factory=list)  # for the manifest
    excluded: int = 0
    not_in_only: int = 0
    held: int = 0

    def route(self, records: list[Any]) -> tuple[list[Any], list[Any]]:
        """The records to publish and those held back, in order."""
        ids = self.ids_of(records)
        if self.excludes or self.onlys:
            pairs = [(r, k) for r, k in zip(records, ids, strict=True) if self._keep(k)]
            records, ids = [r for r, _ in pairs], [k for _, k in pairs]
        if self.tap is not None:
            for key in ids:
                if key is not None:
                    self.tap.add(key)
        if self.holdout is None:
            return records, []
        limit, salt = self.holdout.share * 2**64, _salt_key(self.holdout.salt)
        kept: list[Any] = []
        held: list[Any] = []
        for record, key in zip(records, ids, strict=True):
            (held if key is not None and _draw(salt, key) < limit else kept).append(record)
        self.held += len(held)
        return kept, held

    def _keep(self, key: Any) -> bool:
        if key is None:
            if self.onlys:
                self.not_in_only += 1
                return False
            return True
        for ids in self.excludes:
            if key in ids:
                self.excluded += 1
                return False
        for ids in self.onlys:
            if key not in ids:
                self.not_in_only += 1
                return False
        return True

    def finish(self) -> None:
        """Every page was routed: the tapped audience is complete."""
        if self.tap is not None and self.on_done is not None:
            self.on_done(self.tap)
        self.tap = None

    def manifest_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        if self.sources:
            fields["sources"] = self.sources
            fields["excluded"] = self.excluded
            fields["not_in_only"] = self.not_in_only
        return fields


class Audiences:
    """The id sets of one run's referenced segments, each built once (see the module)."""

    def __init__(
        self,
        ws: Workspace,
        token: str,
        *,
        concurrency: int | None = None,
        out: OutputRoot | None = None,
        exported: Iterable[Segment] = (),
        tap_ok: bool = True,
    ) -> None:
        self.ws, self.token, self.concurrency, self.out = ws, token, concurrency, out
        self.by_name = {seg.name: seg for seg in ws.segments}
        self.sets: dict[str, SeenIds] = {}
        self.origin: dict[str, str] = {}  # segment -> where its set came from in this run
        self.fetches: dict[str, int] = {}  # segment -> times fetched for a reference
        self._building: set[str] = set()
        self._snapshots: list[SnapshotBase] = []
        self._published_sets: dict[str, tuple[IdSet, dict[str, Any]]] = {}
        self._wanted = {
            ref.segment for seg in exported for ref in seg.compose.references if ref.source == RUN
        }
        self._tap_ok = tap_ok  # False: the exports' pages are not whole audiences

    @staticmethod
    def order(segments: Sequence[Segment]) -> list[Segment]:
        """``segments`` with each one another references (in this run) before it, so its
        export's pages give the reference; otherwise in the given order."""
        names = {seg.name: seg for seg in segments}
        done: dict[str, Segment] = {}

        def visit(seg: Segment, path: frozenset[str]) -> None:
            if seg.name in done or seg.name in path:
                return
            for ref in seg.compose.references:
                if ref.source == RUN and ref.segment in names:
                    visit(names[ref.segment], path | {seg.name})
            done[seg.name] = seg

        for seg in segments:
            visit(seg, frozenset())
        return list(done.values())

    def router(self, seg: Segment, *, holdout: bool = True, tap: bool = True) -> Router | None:
        """The router for ``seg``'s pages (None: nothing to do); builds the id sets it needs
        (RunnerError if one cannot be built)."""
        compose = seg.compose
        wants_tap = tap and self._tap_ok and seg.name in self._wanted and seg.name not in self.sets
        if not compose.filters and not (holdout and compose.holdout) and not wants_tap:
            return None
        router = Router(
            compile_many(self.ws.project.api.id_key), holdout=compose.holdout if holdout else None
        )
        router.excludes = [self._ids(ref, router.sources, "exclude") for ref in compose.exclude]
        router.onlys = [self._ids(ref, router.sources, "only") for ref in compose.only]
        if wants_tap and seg.mode == "full":
            router.tap = SeenIds()
            router.on_done = functools.partial(self._tapped, seg.name)
        return router

    def _tapped(self, name: str, ids: SeenIds) -> None:
        if name not in self.sets:
            self.sets[name], self.origin[name] = ids, "its export"

    def _ids(self, ref: Reference, sources: list[dict[str, Any]], key: str) -> IdSet:
        seg = self.by_name.get(ref.segment)
        if seg is None:
            raise RunnerError(
                f"{key}: segment '{ref.segment}' did not load (its problems are reported "
                "above): this segment cannot be computed"
            )
        if ref.source == LAST_PUBLISHED:
            return self._published(seg, sources, key)
        if seg.name not in self.sets:
            self.sets[seg.name] = self._fetch(seg)
            self.origin[seg.name] = "fetched"  # once in this run, for every segment using it
        ids = self.sets[seg.name]
        via = self.origin[seg.name]
        sources.append(
            {"key": key, "segment": seg.name, "from": RUN, "via": via, "contacts": len(ids)}
        )
        return ids

    def _fetch(self, seg: Segment) -> SeenIds:
        """``seg``'s audience: its filter, its own exclude and only (never its holdout)."""
        if seg.name in self._building:  # validate refuses cycles; this is a last stop
            raise RunnerError(f"segment '{seg.name}' is computed from itself (a cycle)")
        self._building.add(seg.name)
        try:
            router = self.router(seg, holdout=False, tap=False)
            ids = SeenIds()
            id_of = compile_many(self.ws.project.api.id_key)
            fetcher = PageFetcher(
                self.ws.project.api,
                self.token,
                seg.body,
                concurrency=self.concurrency,
                as_of=self.ws.clock.now,
            )
            try:
                for page in fetcher.pages():
                    records = page.records if router is None else router.route(page.records)[0]
                    for key in id_of(records):
                        if key is not None:
                            ids.add(key)
            finally:
                fetcher.close()
            self.fetches[seg.name] = self.fetches.get(seg.name, 0) + 1
            return ids
        finally:
            self._building.discard(seg.name)

    def _published(self, seg: Segment, sources: list[dict[str, Any]], key: str) -> IdSet:
        """The ids ``seg``'s last successful run published, from its history snapshot."""
        if seg.name in self._published_sets:
            sources.append({**self._published_sets[seg.name][1], "key": key})
            return self._published_sets[seg.name][0]
        store = store_for(seg, self.ws.project, self.out)
        record = last_success(store, seg.name)
        if record is None or not record.snapshot:
            why = "has not published yet" if record is None else "kept no id snapshot"
            raise HistoryError(
                f"{key}: segment '{seg.name}' (from: last-published) {why} in its history: "
                "run it first, or drop 'from: last-published' to fetch it in this run"
            )
        name = f"the id snapshot of '{seg.name}' (run {record.run_id})"
        base = SnapshotBase(store.open_snapshot(record.snapshot), self.ws.project.api.id_key, name)
        self._snapshots.append(base)
        ended = parse_time(record.ended)
        source = {
            "key": key,
            "segment": seg.name,
            "from": LAST_PUBLISHED,
            "run_id": record.run_id,
            "as_of": record.as_of,
            "published": record.ended,
            "age_seconds": round((dt.datetime.now(dt.UTC) - ended).total_seconds(), 3),
            "contacts": len(base),
        }
        sources.append(source)
        self._published_sets[seg.name] = (_Snapshot(base), source)
        return self._published_sets[seg.name][0]

    def close(self) -> None:
        for base in self._snapshots:
            base.close()
        self._snapshots.clear()


@dataclass
class HoldoutFile:
    """``<name>.holdout.<ext>`` beside the output: the same format, columns and preset,
    published with the file as a companion (all or none: runner.sinks.group)."""

    holdout: Holdout
    destination: Destination
    upload: Upload
    encoder: Encoder

    @classmethod
    def open(cls, run: HistoryRun, dry_run: bool) -> HoldoutFile | None:
        seg = run.seg  # with the path this run writes (dated when incremental)
        if seg.compose.holdout is None:
            return None
        path = tagged_path(seg.output.path, HOLDOUT_TAG)
        dest = destination_for(with_path(seg, path), run.ws.project, run.out)
        upload = DiscardUpload() if dry_run else dest.open(content_type(seg.output))
        return cls(seg.compose.holdout, dest, upload, Encoder(seg.output, upload))

    def finish(self) -> list[Upload]:
        self.encoder.finish()
        return [self.upload]

    def manifest_fields(self) -> dict[str, Any]:
        return {
            "share": self.holdout.text,
            "salt": self.holdout.salt,
            "destination": self.destination.display,
            "rows": self.encoder.rows,
            "bytes": self.encoder.size,
            "sha256": self.encoder.sha256,
        }

    def abort(self) -> None:
        self.upload.abort()


def audience_fields(
    seg: Segment, router: Router | None, holdout: HoldoutFile | None, rows: int
) -> dict[str, Any] | None:
    """The manifest's ``audience``: the composition, where each set came from, and both
    counts (None for a segment without exclude, only or holdout)."""
    shown = seg.compose.describe()
    if not shown:
        return None
    fields: dict[str, Any] = {**shown, **(router.manifest_fields() if router else {})}
    if holdout is not None:
        fields["holdout"] = holdout.manifest_fields()
        fields["audience_rows"] = rows + holdout.encoder.rows
    return fields
