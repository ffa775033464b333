"""One segment's pages through its composition: ``exclude``, ``only``, ``holdout``.

:class:`Router` is the export's one seam (:func:`runner.run.export.write_rows`): each
de-duplicated page goes through :meth:`Router.route`, which returns the records to
publish and writes the held-back ones to the :class:`HoldoutFile`. A segment without
a composition gets an idle router that passes pages through.

Records without an id cannot be matched: ``exclude`` keeps them, ``only`` drops them,
and they are never held back (a holdout must hold the same contacts next run).
The draw: the first 8 bytes of BLAKE2b keyed with the salt, over the id's canonical
JSON (:func:`runner.history.snapshot.canonical`: ``1`` and ``1.0`` one id, ``"1"``
another), read as a fraction of 2⁶⁴; below the share is held back. The same salt gives
the same side on every run; another salt draws again, independently.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from hashlib import blake2b
from typing import Any, Protocol

from runner.errors import DestinationError
from runner.fetch.records import SeenIds
from runner.formats import Encoder, content_type
from runner.history.snapshot import canonical
from runner.run.plan import Plan
from runner.sinks import Destination, DiscardUpload, Upload
from runner.spec.compose import HOLDOUT_TAG, Holdout
from runner.spec.split import SplitSpec


class IdSet(Protocol):
    def __contains__(self, key: Any) -> bool: ...


def held_back(key: Any, holdout: Holdout) -> bool:
    """Whether the contact with id ``key`` is held back (see the module).

    >>> from fractions import Fraction
    >>> half = Holdout(Fraction(1, 2), "q4-2026", "50%")
    >>> held_back("64f1c2a9e4b0a1b2c3d4e5f6", half), held_back(8, half)
    (False, True)
    """
    return _draw(salt_key(holdout.salt), key) < holdout.share * 2**64


def salt_key(salt: str) -> bytes:
    raw = salt.encode("utf-8", "surrogatepass")
    return raw if len(raw) <= 64 else blake2b(raw, digest_size=64).digest()  # BLAKE2b's limit


def _draw(key: bytes, value: Any) -> int:
    return int.from_bytes(blake2b(canonical(value), key=key, digest_size=8).digest(), "big")


@dataclass
class HoldoutFile:
    """``<name>.holdout.<ext>`` beside the output: the same format, columns and preset,
    published with the file as a companion (all or none: runner.sinks.group)."""

    holdout: Holdout
    destination: Destination
    upload: Upload
    encoder: Encoder
    limits: SplitSpec | None = None  # the output's parts' limits: the file must fit in one

    @classmethod
    def open(cls, plan: Plan, dry_run: bool) -> HoldoutFile | None:
        seg = plan.seg  # with the path this run writes (dated when incremental)
        if seg.compose.holdout is None:
            return None
        # One file, never parts: a second set of parts, published all or none with the
        # first, is not built; finish() refuses a holdout past output.split's limits.
        spec = dataclasses.replace(seg.output, split=None)
        dest = plan.companion(HOLDOUT_TAG, spec)
        upload = DiscardUpload() if dry_run else dest.open(content_type(spec))
        return cls(seg.compose.holdout, dest, upload, Encoder(spec, upload), seg.output.split)

    def finish(self) -> None:
        """The file written; DestinationError if it is past the output's split limits."""
        self.encoder.finish()
        rows, size, limits = self.encoder.rows, self.encoder.size, self.limits
        if limits is None:
            return
        over = []
        if limits.max_rows is not None and rows > limits.max_rows:
            over.append(f"{rows:,} rows (max_rows {limits.max_rows:,})")
        if limits.max_bytes is not None and size > limits.max_bytes:
            over.append(f"{size:,} bytes (max_bytes {limits.max_bytes:,})")
        if over:
            raise DestinationError(
                f"the holdout file {self.destination.display} has {' and '.join(over)}: a "
                "holdout file is one file, never split into parts; lower holdout.share or "
                "raise output.split's limits. Nothing was published"
            )

    def manifest_fields(self) -> dict[str, Any]:
        return {
            "share": self.holdout.text,
            "salt": self.holdout.salt,
            "destination": self.destination.display,
            "rows": self.encoder.rows,
            "bytes": self.encoder.size,
            "sha256": self.encoder.sha256,
        }


@dataclass
class Router:
    """One segment's composition over its pages; counts what it did."""

    ids_of: Callable[[list[Any]], list[Any]] | None = None  # None: an idle router
    excludes: Sequence[IdSet] = ()
    onlys: Sequence[IdSet] = ()
    holdout: Holdout | None = None
    file: HoldoutFile | None = None  # where held-back records go (None: counted only)
    tap: SeenIds | None = None  # this audience's ids, for a later segment of the run
    on_done: Callable[[SeenIds], None] | None = None
    described: dict[str, Any] = field(default_factory=dict)  # the keys, as render shows them
    sources: list[dict[str, Any]] = field(default_factory=list)  # where each id set came from
    excluded: int = 0
    not_in_only: int = 0
    held: int = 0

    def route(self, records: list[Any]) -> list[Any]:
        """The records to publish, in order; the held-back ones go to :attr:`file`."""
        if self.ids_of is None:
            return records
        ids = self.ids_of(records)
        if self.excludes or self.onlys:
            pairs = [(r, k) for r, k in zip(records, ids, strict=True) if self._keep(k)]
            records, ids = [r for r, _ in pairs], [k for _, k in pairs]
        if self.tap is not None:
            for key in ids:
                if key is not None:
                    self.tap.add(key)
        if self.holdout is None:
            return records
        limit, salt = self.holdout.share * 2**64, salt_key(self.holdout.salt)
        kept: list[Any] = []
        held: list[Any] = []
        for record, key in zip(records, ids, strict=True):
            (held if key is not None and _draw(salt, key) < limit else kept).append(record)
        self.held += len(held)
        if self.file is not None:
            self.file.encoder.write_page(held)
        return kept

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
        """Every page was routed: the tapped audience is complete; the holdout file too."""
        if self.tap is not None and self.on_done is not None:
            self.on_done(self.tap)
        self.tap = None
        if self.file is not None:
            self.file.finish()

    def companions(self) -> list[Upload]:
        """The holdout file's upload, to publish with the file (all or none)."""
        return [] if self.file is None else [self.file.upload]

    def abort(self) -> None:
        if self.file is not None:
            self.file.upload.abort()  # a published file is kept

    def manifest_fields(self, rows: int) -> dict[str, Any] | None:
        """The manifest's ``audience`` (None without exclude, only or holdout): the keys,
        where each id set came from, and both counts."""
        if not self.described:
            return None
        fields: dict[str, Any] = dict(self.described)
        if self.sources:
            fields.update(sources=self.sources, excluded=self.excluded)
            fields["not_in_only"] = self.not_in_only
        if self.file is not None:
            fields["holdout"] = self.file.manifest_fields()
            fields["audience_rows"] = rows + self.held
        return fields
