"""Everything the runner prints for a person or a tool; nothing here decides an outcome.

- :mod:`~runner.report.problems`: problem reporters (text, json, github), :data:`REPORTERS`
- :mod:`~runner.report.table`: plain-text tables
- :mod:`~runner.report.progress`: live progress and log lines during an export
- :mod:`~runner.report.summary`: the table after an export
- :mod:`~runner.report.diff`: ``segments diff`` as text, Markdown or JSON
- :mod:`~runner.report.history`: ``segments history`` as a table with sparklines, or JSON
"""

from __future__ import annotations

from runner.report.problems import REPORTERS, Reporter

__all__ = ["REPORTERS", "Reporter"]
