"""segment-runner: audience segments as reviewed YAML, exported like clockwork.

The pipeline, one package a step::

    spec (segment file -> rendered request) -> fetch (pages) -> records
         -> rows (columns) -> formats -> sinks -> manifest

``runner.run.export`` runs it for each segment; ``runner.cli.commands`` holds what each
CLI command does, callable from Python; ``runner.cli`` maps outcomes to exit codes.
"""

__version__ = "0.1.0"
