"""One export run, as steps: plan, fetch, build rows, write, publish, remember, notify.

The Python API (README "Python API")::

    from runner.run import ExportOptions, ExportResult, Workspace, export

    ws = Workspace.open(Path("."))
    results: list[ExportResult] = export(ws.select(["signups"]), ws, ExportOptions())

- :mod:`runner.run.export`: :func:`export` (several segments) and ``export_segment``:
  the steps in order;
- :mod:`runner.run.record`: :class:`ExportResult`, the one record of a run's figures;
- :mod:`runner.run.options`: :class:`ExportOptions`;
- :mod:`runner.run.plan` (plan), :mod:`runner.run.pages` (fetch),
  :mod:`runner.run.route` and :mod:`runner.run.compose` (exclude, only, holdout),
  :mod:`runner.run.deltas`, :mod:`runner.run.rows` (rows and write),
  :mod:`runner.run.guards`, :mod:`runner.run.publish`, :mod:`runner.run.remember`
  (the history entry), :mod:`runner.run.notify`: the steps;
- :mod:`runner.run.manifest` and :mod:`runner.run.results`: the manifest and the
  ``--results`` file, made from the record.
"""

from runner.run.count import count_contacts
from runner.run.export import export, export_segment
from runner.run.options import ExportOptions
from runner.run.record import DONE, ExportResult, Listener
from runner.spec.workspace import Workspace  # what export() runs in: runner.yaml, segments

__all__ = [
    "DONE",
    "ExportOptions",
    "ExportResult",
    "Listener",
    "Workspace",
    "count_contacts",
    "export",
    "export_segment",
]
