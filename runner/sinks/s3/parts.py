"""A split output on S3: its parts as multipart uploads, published as one set.

The protocol is in :mod:`runner.sinks.parts`; this module holds its S3 half, and the
set as a companion (a holdout's set: :meth:`S3Parts.placement`).
"""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from runner.errors import DestinationError
from runner.sinks.base import (
    MANIFEST_SUFFIX,
    TEMP_PREFIX,
    PartsUpload,
    Placement,
    before_manifest,
    set_name,
)
from runner.sinks.s3.errors import s3_reason
from runner.sinks.s3.group import S3Placement
from runner.sinks.s3.target import abort_stale_uploads, open_uploads
from runner.sinks.s3.upload import S3Upload
from runner.spec.targets import part_number, part_path

if TYPE_CHECKING:
    from runner.sinks.s3.target import S3Target
    from runner.spec.split import SplitSpec


STAGED_BYTES = 4  # random bytes in a staged first part's name (hex: 8 characters)


class S3Parts(PartsUpload):
    """The upload of a split output on S3 (see :mod:`runner.sinks.parts`)."""

    def __init__(self, base: S3Target, split: SplitSpec, content_type: str) -> None:
        """``base`` names the plain file; the set's manifest is ``<key>.parts``'s."""
        self.base, self.split, self.content_type = base, split, content_type
        # The set's own name (<key>.parts): never written, it carries the manifest calls.
        self.main: S3Upload = base.sibling(set_name).open(content_type)
        self.uploads: list[S3Upload] = []
        # Per part: its upload began before its rows and sha256 were known (a copy in place
        # sets them), and the metadata it ends with.
        self.late: list[bool] = []
        self.meta: list[dict[str, str]] = []
        self._abort_stale_parts()

    def _head_and_name(self) -> tuple[str, str]:
        head, _, name = self.base.key.rpartition("/")
        return (f"{head}/" if head else ""), name

    def _abort_stale_parts(self) -> None:
        """Uploads a killed split run left open on any part of this set: every upload
        listed under the parts' names (``name-``) and under staged names, page after
        page (:func:`~runner.sinks.s3.target.open_uploads`); each part then opens
        without a listing of its own."""
        head, name = self._head_and_name()
        client, bucket = self.base.client, self.base.bucket
        stem = part_path(name, 1).rsplit("-", 1)[0]  # the extension holds no "-"
        try:
            uploads = [
                upload
                for prefix in (f"{head}{stem}-", f"{head}{TEMP_PREFIX}")
                for upload in open_uploads(client, bucket, prefix)
            ]
        except (ClientError, BotoCoreError):
            return
        if self.split.plain_if_one:  # a set of one becomes the plain file: its key too
            abort_stale_uploads(client, bucket, self.base.key)
        # A staged first part of this set, exactly: .segments-tmp-<8 hex>-name-0001.csv
        # (a suffix test took another output's: x-name-0001.csv ends with -name-0001.csv).
        staged_name = re.compile(
            re.escape(TEMP_PREFIX)
            + f"[0-9a-f]{{{2 * STAGED_BYTES}}}-"
            + re.escape(part_path(name, 1))
        )
        for upload in uploads:
            key, rel = upload.get("Key", ""), upload.get("Key", "")[len(head) :]
            staged = staged_name.fullmatch(rel) is not None
            if key.startswith(head) and (staged or part_number(rel, name) is not None):
                with contextlib.suppress(ClientError, BotoCoreError):
                    client.abort_multipart_upload(
                        Bucket=bucket, Key=key, UploadId=upload["UploadId"]
                    )

    def open_part(self, number: int) -> S3Upload:
        part = self.base.sibling(lambda name: part_path(name, number))
        upload = part.open(self.content_type, swept=True)  # the set's: __init__
        if number == 1 and self.split.plain_if_one:
            # It may be the plain file: staged under a temporary key, copied to the part's
            # or the plain key when the run publishes, so neither is touched before then.
            head, _, name = part.key.rpartition("/")
            upload.parts.staging = f"{head}/" if head else ""
            upload.parts.staging += f"{TEMP_PREFIX}{secrets.token_hex(STAGED_BYTES)}-{name}"
        self.uploads.append(upload)
        return upload

    def end_part(self, part: Any) -> str:
        """Send the part's last bytes now, with its rows and sha256 when it is one part."""
        upload = self.uploads[-1]
        figures = {"rows": str(part.rows), "sha256": part.sha256}
        # A staged part's copy sets them, whenever its upload began.
        late = upload.parts.upload_id is not None and upload.parts.staging is None
        if not late:
            upload.parts.metadata.update(figures)
        upload.parts.spill()
        self.late.append(late)
        self.meta.append({**upload.parts.metadata, **figures})
        return upload.url

    def publish(self, manifest: bytes, metadata: Mapping[str, str]) -> None:
        plain = self.split.plain(len(self.uploads))
        if plain:
            self._publish_plain(manifest, metadata)
        else:
            self._publish_set(manifest)

    def _publish_plain(self, manifest: bytes, metadata: Mapping[str, str]) -> None:
        """The one part as the plain file: the single-file publish (old manifest out,
        the staged part copied to the plain key with the file's metadata, the manifest)."""
        (upload,) = self.uploads
        upload.parts.key, upload.parts.url = self.base.key, self.base.display
        plain = S3Upload(upload.parts, manifest_extra=self.main.manifest_extra)
        plain.publish(manifest, metadata)
        upload.done = self.main.done = True

    def _publish_set(self, manifest: bytes) -> None:
        old = self.main._remove_old_manifest()
        placed: list[S3Placement] = []
        try:
            self.place_parts(placed)
            before_manifest()
            self._put_manifest(manifest)
        except BaseException:
            _restore(placed)
            self.main._put_back(old)
            raise
        self.main.done = True
        _drop(placed)

    def place_parts(self, placed: list[S3Placement]) -> None:
        """Each part completed under its key (its previous object copied aside), with its
        rows and sha256; appended to ``placed`` as it goes."""
        for upload, late, meta in zip(self.uploads, self.late, self.meta, strict=True):
            placement = S3Placement(upload.parts, upload.published)
            placement.place()
            placed.append(placement)
            problem = upload.parts.stamp(meta) if late else None
            if problem:
                raise DestinationError(f"cannot set the metadata of {upload.url}: {problem}")

    def place_plain(self) -> S3Placement:
        """The one part as the plain object (a preset's default split): copied from its
        staged key to the plain key, the previous object copied aside."""
        (upload,) = self.uploads
        upload.parts.key, upload.parts.url = self.base.key, self.base.display
        placement = S3Placement(upload.parts, upload.published)
        placement.place()
        return placement

    def placement(self) -> Placement:
        """The set as a companion (a holdout's set beside the output): its parts in place
        before the output, put back if the output is not published."""
        return _SetPlacement(self)

    def group_lock(self) -> AbstractContextManager[None]:
        """S3 has no lock (see :mod:`runner.sinks.group`)."""
        return contextlib.nullcontext()

    def _put_manifest(self, manifest: bytes) -> None:
        try:
            self.main._put_manifest(manifest)
        except (ClientError, BotoCoreError) as exc:
            where = f"{self.main.url}{MANIFEST_SUFFIX}"
            raise DestinationError(
                f"cannot write {where}: {s3_reason(exc, where)}; the previous set is kept"
            ) from exc

    def abort(self) -> None:
        for upload in self.uploads:
            upload.abort()
        self.main.abort()


def _restore(placed: list[S3Placement]) -> None:
    for placement in reversed(placed):
        with contextlib.suppress(DestinationError):
            placement.restore()
    placed.clear()


def _drop(placed: list[S3Placement]) -> None:
    for placement in placed:
        with contextlib.suppress(DestinationError):
            placement.drop()


class _SetPlacement:
    """A set of parts published as a companion (:mod:`runner.sinks.group`), without a
    manifest of its own: the output's manifest lists its parts (a holdout's)."""

    def __init__(self, upload: S3Parts) -> None:
        self.upload = upload
        self.plain = upload.split.plain(len(upload.uploads))
        self.placed: list[S3Placement] = []

    def place(self) -> None:
        try:
            if self.plain:
                self.placed.append(self.upload.place_plain())
            else:
                self.upload.place_parts(self.placed)
        except BaseException:
            _restore(self.placed)
            raise

    def restore(self) -> None:
        _restore(self.placed)

    def drop(self) -> None:
        """Published: the copies go."""
        _drop(self.placed)
        self.upload.main.done = True
