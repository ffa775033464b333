"""Names inside a history, the same in every store: where the history sits under an
output root, segment folders, and the references of id snapshots.

A snapshot reference is ``<segment>/<run_id>.ids.gz``: the segment's folder and a
file name in its ``snapshots`` folder. A reference is checked before it becomes a
path or key, so one read from an entry (``vip/../../secret``) cannot leave the
history.

>>> snapshot_ref("vip", "20261125T000312.041Z-3f9c0a1b7d2e")
'vip/20261125T000312.041Z-3f9c0a1b7d2e.ids.gz'
>>> split_snapshot_ref("vip/20261125T000312.041Z-3f9c0a1b7d2e.ids.gz")
('vip', '20261125T000312.041Z-3f9c0a1b7d2e.ids.gz')
"""

from __future__ import annotations

from runner.errors import HistoryError
from runner.history.record import SEGMENT_NAME
from runner.locations import STATE_DIR

HISTORY_DIR = f"{STATE_DIR}/history"  # under output_root, or under the S3 prefix
SNAPSHOT_SUFFIX = ".ids.gz"


def segment_folder(segment: str) -> str:
    """``segment`` as a folder name; ValueError unless it is a segment name."""
    if not SEGMENT_NAME.match(segment):
        raise ValueError(f"segment name {segment!r} is not lowercase-kebab-case")
    return segment


def is_snapshot_name(name: str) -> bool:
    """Whether a file in a ``snapshots`` folder is a snapshot (not a temporary)."""
    return name.endswith(SNAPSHOT_SUFFIX) and "/" not in name and not name.startswith(".")


def snapshot_ref(segment: str, run_id: str) -> str:
    """The reference of the snapshot of run ``run_id`` of ``segment``."""
    return f"{segment}/{run_id}{SNAPSHOT_SUFFIX}"


def split_snapshot_ref(ref: str) -> tuple[str, str]:
    """``(segment, file name)`` of a reference; HistoryError if it is not one."""
    segment, _, name = ref.partition("/")
    if not is_snapshot_name(name):
        raise HistoryError(f"{ref!r} is not a snapshot reference of this history")
    return segment, name
