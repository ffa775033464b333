"""Audiences from audiences, in a run: ``exclude``, ``only`` and ``holdout``
(:mod:`runner.spec.compose` reads the keys).

:class:`Audiences` holds, for one run, the id set of every segment another one
references, each built once: from the pages the referenced segment's own export
read earlier in the run (its export is ordered first, :meth:`Audiences.order`), or
fetched once with its own filter (and its own ``exclude``/``only``, recursively), or
(``from: last-published``) read from the id snapshot its last successful run stored,
with no request. Ids are kept as digests (:class:`~runner.fetch.records.SeenIds`, about
20 bytes an id), never as values or rows.

:meth:`Audiences.start` gives the export its :class:`~runner.run.route.Router`.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from runner.errors import HistoryError, RunnerError, SnapshotGone
from runner.fetch import PageFetcher
from runner.fetch.records import SeenIds, record_ids
from runner.history import HistoryStore, RunRecord, last_success, open_snapshot_of
from runner.history.record import parse_time
from runner.history.snapshot import SnapshotBase, canonical, digest
from runner.run.plan import Plan, store_for
from runner.run.route import HoldoutFile, IdSet, Router
from runner.sinks import OutputRoot
from runner.spec.compose import LAST_PUBLISHED, RUN, Reference
from runner.spec.segment import Segment
from runner.spec.workspace import Workspace


class Options(Protocol):
    """What the run's options say here (:class:`runner.run.export.ExportOptions`)."""

    @property
    def concurrency(self) -> int | None: ...
    @property
    def out(self) -> OutputRoot | None: ...
    @property
    def max_pages(self) -> int | None: ...


class _Snapshot:
    """A published id snapshot as an :class:`IdSet` (its digests: runner.history.snapshot)."""

    def __init__(self, base: SnapshotBase) -> None:
        self.base = base

    def __contains__(self, key: Any) -> bool:
        return self.base.mark([digest(canonical(key))])[0]


def export_order(segments: Sequence[Segment]) -> list[Segment]:
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


def _published_ids(
    store: HistoryStore, segment: str, record: RunRecord, key: str, id_key: str
) -> tuple[RunRecord, SnapshotBase]:
    """The ids ``record`` published, from its snapshot; if newer runs pruned it since
    the history was read, the newest run's (and its record)."""
    try:
        record, file = open_snapshot_of(store, segment, record)
    except SnapshotGone as exc:
        fix = f"export '{segment}' again to keep a new one"
        why = f"{key}: segment '{segment}' (from: last-published): {exc}; {fix}"
        raise HistoryError(why) from exc
    name = f"the id snapshot of '{segment}' (run {record.run_id})"
    return record, SnapshotBase(file, id_key, name)


class Audiences:
    """The id sets of one run's referenced segments, each built once (see the module).

    ``exported``: the run's segments (a referenced one among them shares its pages,
    unless ``options.max_pages`` cuts them short).
    """

    def __init__(
        self,
        ws: Workspace,
        token: str,
        options: Options | None = None,
        exported: Iterable[Segment] = (),
    ) -> None:
        self.ws, self.token = ws, token
        self.concurrency = options.concurrency if options is not None else None
        self.out = options.out if options is not None else None
        max_pages = options.max_pages if options is not None else None
        exported = list(exported)
        # The run's own segments first: their filter.segments names are resolved
        self.by_name = {seg.name: seg for seg in [*ws.segments, *exported]}
        self.sets: dict[str, SeenIds] = {}
        self.origin: dict[str, str] = {}  # segment -> where its set came from in this run
        self.fetches: dict[str, int] = {}  # segment -> times fetched for a reference
        self._building: set[str] = set()
        self._published_sets: dict[str, tuple[IdSet, dict[str, Any]]] = {}
        wanted = {r.segment for s in exported for r in s.compose.references if r.source == RUN}
        self._wanted = wanted if max_pages is None else set()

    def start(self, plan: Plan, dry_run: bool = False) -> Router:
        """The export's router: the id sets it needs built (RunnerError if one cannot be),
        the holdout file opened beside the output."""
        router = self.router(plan.seg)
        router.file = HoldoutFile.open(plan, dry_run)
        return router

    def router(self, seg: Segment, *, holdout: bool = True, tap: bool = True) -> Router:
        """``seg``'s router (idle when there is nothing to do)."""
        compose = seg.compose
        tap = tap and seg.name in self._wanted and seg.name not in self.sets
        if not compose.filters and not (holdout and compose.holdout) and not tap:
            return Router()
        router = Router(record_ids(self.ws.project.api.id_key), described=compose.describe())
        router.holdout = compose.holdout if holdout else None
        router.excludes = [self._ids(ref, router.sources, "exclude") for ref in compose.exclude]
        router.onlys = [self._ids(ref, router.sources, "only") for ref in compose.only]
        if tap and seg.mode == "full":  # an incremental run's pages are not its audience
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
        # "ids" says which meaning of "without its holdout": its whole audience (who it
        # holds back included) here, only what it published for last-published
        entry = {"key": key, "segment": seg.name, "from": RUN, "ids": "audience", "via": via}
        sources.append({**entry, "contacts": len(ids)})
        return ids

    def _fetch(self, seg: Segment) -> SeenIds:
        """``seg``'s audience: its filter, its own exclude and only (never its holdout)."""
        if seg.name in self._building:  # validate refuses cycles; this is a last stop
            raise RunnerError(f"segment '{seg.name}' is computed from itself (a cycle)")
        if seg.name in self.ws.unresolved:  # selected, its names refused (reported above)
            raise RunnerError(
                f"segment '{seg.name}' cannot be computed: {self.ws.unresolved[seg.name]}"
            )
        if seg.saved_names:  # resolved for the segments a command selects (runner.fetch.saved)
            raise RunnerError(
                f"segment '{seg.name}' names saved segments in filter.segments ('name:'): "
                "they are resolved for the segments a command exports; export it in the same "
                "run, or read it with 'from: last-published'"
            )
        self._building.add(seg.name)
        try:
            router = self.router(seg, holdout=False, tap=False)  # its audience, not its file
            ids = SeenIds()
            id_of = record_ids(self.ws.project.api.id_key)
            fetcher = PageFetcher(
                self.ws.project.api,
                self.token,
                seg.body,
                concurrency=self.concurrency,
                as_of=self.ws.clock.now,
            )
            try:
                for page in fetcher.pages():
                    for key in id_of(router.route(page.records)):
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
            fix = "run it first, or drop 'from: last-published' to fetch it in this run"
            if seg.mode == "incremental":  # running it again keeps none either
                fix = "an incremental segment's runs keep none (each is one window); drop "
                fix += "'from: last-published' to fetch its whole filter in this run"
            raise HistoryError(
                f"{key}: segment '{seg.name}' (from: last-published) {why} in its history: {fix}"
            )
        record, base = _published_ids(store, seg.name, record, key, self.ws.project.api.id_key)
        base.close()  # loaded: only its digests are asked
        ended = parse_time(record.ended)
        source = {
            "key": key,
            "segment": seg.name,
            "from": LAST_PUBLISHED,
            "ids": "published",
            "run_id": record.run_id,
            "as_of": record.as_of,
            "published": record.ended,
            "age_seconds": round((dt.datetime.now(dt.UTC) - ended).total_seconds(), 3),
            "contacts": len(base),
        }
        sources.append(source)
        self._published_sets[seg.name] = (_Snapshot(base), source)
        return self._published_sets[seg.name][0]
