"""The command line: ``argv`` -> typed settings -> a command -> an exit code.

- :mod:`runner.cli.args`: the parser and its grammar (argv to settings);
- :mod:`runner.cli.process`: process-wide settings (signals, stdout, the progress mode);
- :mod:`runner.cli.commands`: what each command does, callable from Python, returning values;
- :mod:`runner.cli.main`: :func:`main`, the only place an outcome becomes an exit code.
"""

from runner.cli.main import main

__all__ = ["main"]
