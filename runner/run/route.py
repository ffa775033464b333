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

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from hashlib import blake2b
from typing import Any, Protocol

from runner.fetch.records import SeenIds
from runner.formats import Encoder, content_type
from runner.formats.split import encoder_for, part_list, split_warning
from runner.history.snapshot import canonical
from runner.run.plan import Plan
from runner.sinks import Destination, DiscardUpload, Upload
from runner.spec.compose import HOLDOUT_TAG, Holdout


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
    """``<name>.holdout.<ext>`` beside the output: the same format, columns, preset and
    split (a split output's holdout is a set of its own, ``<name>.holdout-0001.<ext>``
    ..., cut by the same limits), published with the file as a companion (all or none:
    runner.sinks.group); the output's manifest lists its parts."""

    holdout: Holdout
    destination: Destination
    upload: Upload
    encoder: Encoder

    @classmethod
    def open(cls, plan: Plan, dry_run: bool) -> HoldoutFile | None:
        seg = plan.seg  # with the path this run writes (dated when incremental)
        if seg.compose.holdout is None:
            return None
        dest = plan.companion(HOLDOUT_TAG, seg.output)  # split as the output is
        upload = DiscardUpload() if dry_run else dest.open(content_type(seg.output))
        which = f"the holdout set {dest.display}"
        encoder = encoder_for(seg.output, upload, upload.part_writer(), which)
        return cls(seg.compose.holdout, dest, upload, encoder)

    def finish(self) -> None:
        """The file (or every part) written."""
        self.encoder.finish()

    def warning(self) -> str | None:
        """Its parts larger than ``max_bytes`` (as the output's: runner.formats.split)."""
        warning = split_warning(self.encoder)
        return f"the holdout set {self.destination.display}: {warning}" if warning else None

    def manifest_fields(self) -> dict[str, Any]:
        """Share, salt, where, rows, bytes, sha256 (of the parts joined, when split), and
        ``part_count`` and ``parts`` as the output's own manifest lists its parts."""
        fields: dict[str, Any] = {
            "share": self.holdout.text,
            "salt": self.holdout.salt,
            "destination": self.destination.display,
            "rows": self.encoder.rows,
            "bytes": self.encoder.size,
            "sha256": self.encoder.sha256,
        }
        parts = part_list(self.encoder)
        if parts is not None:
            fields["part_count"], fields["parts"] = len(parts), parts
        return fields


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

    def held_parts(self) -> int:
        """The parts of the holdout's set (0: one file, or no holdout file)."""
        return 0 if self.file is None else len(part_list(self.file.encoder) or ())

    def cautions(self) -> list[str]:
        """Warnings about the holdout's file (its parts past ``max_bytes``)."""
        warning = self.file.warning() if self.file is not None else None
        return [warning] if warning else []

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
