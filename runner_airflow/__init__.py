"""segment-runner on Apache Airflow: one export task per segment, one pool per API token.

``pip install 'segment-runner[airflow]'`` brings Airflow and this package:

- :mod:`runner_airflow.dag`: :func:`~runner_airflow.dag.segments_dag` (one task per segment,
  fixed at parse time) and :func:`~runner_airflow.dag.mapped_segments_dag` (the list read
  at run time, one mapped task instance per segment);
- :mod:`runner_airflow.operator`: ``SegmentExportOperator``, which runs ``segments export``
  as a child process (the runner may live in its own virtual environment) and pushes its
  typed result to XCom;
- :mod:`runner_airflow.plan` and :mod:`runner_airflow.task`: what those two need, in plain
  Python without Airflow (which segments, which pool, what ``--concurrency``; how a run's
  results become a task's outcome), so they are tested without it.

This package imports ``runner``; ``runner`` never imports it or Airflow (import-linter).
Nothing here imports Airflow at package level: ``runner_airflow.plan`` works without it.
"""
