"""One export run, as steps: plan, fetch, build rows, write, publish, remember, notify.

- :mod:`runner.run.export`: :func:`~runner.run.export.export_segment` and
  :func:`~runner.run.export.export_all`, the Python API the CLI and orchestrators call;
- :mod:`runner.run.manifest`: the manifest written beside each published file;
- :mod:`runner.run.remember`: the run's history entry, drift guard and delta;
- :mod:`runner.run.notify`: the messages sent when a run ends.
"""
