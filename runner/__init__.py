"""segment-runner: audience segments as reviewed YAML, exported like clockwork.

The pipeline, one module a step::

    loader -> spec (+ templating, schema) -> fetch (pages) -> records
           -> rows (columns) -> formats -> sinks -> manifest

``runner.commands`` holds what each CLI command does, callable from Python.
"""

__version__ = "0.1.0"
