"""``segments sandbox``: serve the bundled Flowmatix-compatible API until stopped."""

from __future__ import annotations

from typing import TextIO

from runner.cli.commands import Outcome
from runner.errors import Terminated, UsageError
from runner.sandbox.options import SandboxOptions


def sandbox(options: SandboxOptions, out: TextIO) -> Outcome:
    """Serve a local Flowmatix-compatible API until Ctrl-C or SIGTERM (its normal end)."""
    from runner.sandbox import Sandbox, shapes

    try:
        server = Sandbox(options)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    except OSError as exc:
        raise UsageError(f"cannot listen on {options.host}:{options.port}: {exc.strerror}") from exc
    out.write(
        f"sandbox: {options.users} contacts (seed {options.seed}), page size {options.page_size}\n"
        f"sandbox: {shapes.shape_line(options.shape, server.anchor, server.missing_created)}\n"
        f"export FLOWMATIX_API_URL={server.url}\nexport FLOWMATIX_TOKEN={options.token}\n"
    )
    out.flush()
    try:
        server.serve_forever()
    except (KeyboardInterrupt, Terminated):
        pass  # stopping the sandbox is how it ends: OK
    finally:
        server.stop()
    out.write(server.gate.report() + "\n")
    out.flush()
    return Outcome.OK
