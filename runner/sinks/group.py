"""A file published with its companions (``output.delta``'s added and removed files):
all of them, or none.

Each companion is an :class:`~runner.sinks.Upload` opened like the file itself (its
bytes staged in a temporary, or in S3 parts), whose :meth:`~runner.sinks.Upload.publish`
is never called: :func:`publish_group` puts the companions in place first, keeping
what they replace, then publishes the file and its manifest. If the file is not
published, each companion's previous file or object is put back (or the new one
removed when there was none); once it is, the kept copies are dropped.

Each kind says how through :meth:`~runner.sinks.base.Upload.placement` and
:meth:`~runner.sinks.base.Upload.group_lock`: locally
(:mod:`runner.sinks.local.group`) the group is published holding the first
companion's lock and a replaced file is renamed aside; on S3
(:mod:`runner.sinks.s3.group`) a replaced object is copied aside, server side, and
S3 has no lock.

A run killed between the companions and the file leaves new companions beside the
previous file; the previous manifest does not list them, so a reader can tell.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping, Sequence

from runner.errors import DestinationError, ManifestError
from runner.sinks.base import Placement, Upload


def publish_group(
    main: Upload, companions: Sequence[Upload], manifest: bytes, metadata: Mapping[str, str]
) -> None:
    """Publish ``companions``, then ``main`` with ``manifest``; all or none (see above)."""
    if not companions:
        main.publish(manifest, metadata)
        return
    # main may be a split output's set of parts: the lock is the first companion's.
    with companions[0].group_lock():
        _publish(main, [c.placement() for c in companions], manifest, metadata)


def _publish(
    main: Upload, placements: list[Placement], manifest: bytes, metadata: Mapping[str, str]
) -> None:
    placed: list[Placement] = []
    try:
        for placement in placements:
            placement.place()
            placed.append(placement)
        main.publish(manifest, metadata)
    except ManifestError:  # the file is published: so are its companions
        _each(placed, lambda p: p.drop())
        raise
    except BaseException:
        _each(reversed(placed), lambda p: p.restore())
        raise
    _each(placed, lambda p: p.drop())


def _each(placements: Iterable[Placement], action: Callable[[Placement], None]) -> None:
    for placement in placements:
        with contextlib.suppress(OSError, DestinationError):
            action(placement)
