"""Segment files and ``runner.yaml`` -> typed, rendered values, with every problem collected.

The first stage of the pipeline; it never touches the network or a destination.

- :mod:`~runner.spec.files`: a user's file read safely (regular, at most 1 MiB, UTF-8)
- :mod:`~runner.spec.loader`: text -> YAML document with the line and column of every value
- :mod:`~runner.spec.schema`: JSON Schema checks that name the key, the value and the choices
- :mod:`~runner.spec.templating` (+ :mod:`~runner.spec.template_guard`): dates on one clock
- :mod:`~runner.spec.project`: ``runner.yaml`` -> :class:`~runner.spec.project.Project`
- :mod:`~runner.spec.segment`: a segment file -> :class:`~runner.spec.segment.Segment`
- :mod:`~runner.spec.expressions`: the grammar of column expressions (checked, not run)
- :mod:`~runner.spec.rules`: the checks a schema cannot say about one file
- :mod:`~runner.spec.crosscheck`: the checks between files (names, colliding outputs)
- :mod:`~runner.spec.targets`: where a segment may write
- :mod:`~runner.spec.workspace`: a project opened for one run, and selection
"""
