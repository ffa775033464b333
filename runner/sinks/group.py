"""A file published with its companions (``output.delta``'s added and removed files):
all of them, or none.

Each companion is an :class:`~runner.sinks.Upload` opened like the file itself (its
bytes staged in a temporary, or in S3 parts), whose :meth:`~runner.sinks.Upload.publish`
is never called: :func:`publish_group` puts the companions in place first, keeping
what they replace, then publishes the file and its manifest. If the file is not
published, each companion's previous file or object is put back (or the new one
removed when there was none); once it is, the kept copies are dropped.

- **Local**: the whole group is published holding one more ``flock``, on the first
  companion's lock file, so two runs of one segment publish their groups one after
  the other (each run then takes the file's own lock, always in that order). A
  replaced companion is renamed aside (``.segments-tmp-...``) and stays ``flock``-ed
  by this run until it is dropped or put back, so no other run's clean-up removes it.
- **S3**: each replaced companion is first copied, server side, to
  ``.segments-tmp-<random>-<name>`` beside it; the copy is copied back, or deleted.
  S3 has no lock: two runs publishing at once may leave companions of one run beside
  the file of the other. The manifest names the companions' sha256: a reader trusts
  them when they match.

A run killed between the companions and the file leaves new companions beside the
previous file; the previous manifest does not list them, so a reader can tell.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from runner.errors import DestinationError, ManifestError
from runner.sinks.base import Upload

Undo = Callable[[], None]


def publish_group(
    main: Upload, companions: Sequence[Upload], manifest: bytes, metadata: Mapping[str, str]
) -> None:
    """Publish ``companions``, then ``main`` with ``manifest``; all or none (see above)."""
    if not companions:
        main.publish(manifest, metadata)
        return
    from runner.sinks.local import LocalUpload

    if isinstance(companions[0], LocalUpload):  # main may be a split output's set of parts
        with _group_lock(companions[0]):
            _publish(main, [_LocalPlacement(c) for c in companions], manifest, metadata)
    else:
        _publish(main, [S3Placement(c) for c in companions], manifest, metadata)


def _publish(
    main: Upload, placements: list[Any], manifest: bytes, metadata: Mapping[str, str]
) -> None:
    placed: list[Any] = []
    try:
        for placement in placements:
            placement.place()
            placed.append(placement)
        main.publish(manifest, metadata)
    except ManifestError:  # the file is published: so are its companions
        _each(placed, "drop")
        raise
    except BaseException:
        _each(reversed(placed), "restore")
        raise
    _each(placed, "drop")


def _each(placements: Any, action: str) -> None:
    for placement in placements:
        with contextlib.suppress(OSError, DestinationError):
            getattr(placement, action)()


@contextlib.contextmanager
def _group_lock(first: Upload) -> Iterator[None]:
    from runner.sinks.local import LocalUpload
    from runner.sinks.locks import target_lock

    assert isinstance(first, LocalUpload)
    try:
        with target_lock(first.dest):
            yield
    except OSError as exc:
        raise first.dest.error(exc) from exc


class _LocalPlacement:
    """One companion file: renamed over its target, the replaced file kept aside."""

    def __init__(self, upload: Upload) -> None:
        from runner.sinks.local import LocalUpload

        assert isinstance(upload, LocalUpload)
        self.upload = upload
        self.target: Path = upload.dest.target
        self.aside: Path | None = None
        self._hold: int | None = None

    def place(self) -> None:
        from runner.sinks.local import TEMP_PREFIX

        data = self.upload.data
        try:
            data.sync()
            self._hold = _held(self.target)
            if self._hold is not None:
                aside = self.target.with_name(f"{TEMP_PREFIX}{secrets.token_hex(4)}-old")
                os.rename(self.target, aside)
                self.aside = aside
            data.rename_to(self.target)
        except OSError as exc:
            self.restore()
            raise self.upload.dest.error(exc) from exc

    def restore(self) -> None:
        try:
            if self.aside is not None:
                os.replace(self.aside, self.target)
            elif self.upload.data.renamed:
                self.target.unlink(missing_ok=True)
        finally:
            self._release()

    def drop(self) -> None:
        try:
            if self.aside is not None:
                self.aside.unlink(missing_ok=True)
        finally:
            self._release()
            self.upload.abort()  # closes the published temporary: the next run may lock it

    def _release(self) -> None:
        if self._hold is not None:
            os.close(self._hold)
            self._hold = None


def _held(path: Path) -> int | None:
    """An fd ``flock``-ed on the file at ``path`` (None if there is none): a temporary
    nobody has locked is another run's leftover, and would be removed."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


class S3Placement:
    """One companion object: its previous object copied aside, then the new one written."""

    def __init__(self, upload: Upload) -> None:
        from runner.sinks.s3 import S3Upload

        assert isinstance(upload, S3Upload)
        self.upload = upload
        self.parts = upload.parts
        self.backup: str | None = None
        self.written = False

    def _fail(self, doing: str, exc: Exception) -> DestinationError:
        from runner.sinks.s3 import s3_reason

        return DestinationError(
            f"cannot {doing} {self.parts.url}: {s3_reason(exc, self.parts.url)}"
        )

    def _call(self, doing: str, method: str, **kwargs: Any) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            getattr(self.parts.client, method)(Bucket=self.parts.bucket, **kwargs)
        except (BotoCoreError, ClientError) as exc:
            raise self._fail(doing, exc) from exc

    def _copy(self, doing: str, source: str, key: str) -> None:
        """A server-side copy of any size (CopyObject stops at 5 GiB: runner.sinks.s3_copy)."""
        from botocore.exceptions import BotoCoreError, ClientError

        from runner.sinks.s3_copy import server_copy

        try:
            server_copy(self.parts.client, self.parts.bucket, source, key)
        except (BotoCoreError, ClientError) as exc:
            raise self._fail(doing, exc) from exc

    def place(self) -> None:
        from botocore.exceptions import ClientError

        from runner.sinks.local import TEMP_PREFIX

        head, _, name = self.parts.key.rpartition("/")
        backup = f"{head}/" if head else ""
        backup += f"{TEMP_PREFIX}{secrets.token_hex(4)}-{name}"
        try:
            self._copy("set aside", self.parts.key, backup)
            self.backup = backup
        except DestinationError as exc:
            code = (
                exc.__cause__.response.get("Error", {}).get("Code")
                if isinstance(exc.__cause__, ClientError)
                else None
            )
            if code not in ("NoSuchKey", "404"):
                raise
        self.parts.commit(dict(self.parts.metadata))
        self.upload.done = True
        self.written = True

    def restore(self) -> None:
        if self.backup is not None:
            self._copy("put back", self.backup, self.parts.key)
            self.drop()
        elif self.written:
            self._call("remove", "delete_object", Key=self.parts.key)

    def drop(self) -> None:
        if self.backup is not None:
            self._call("remove the copy of", "delete_object", Key=self.backup)
            self.backup = None
