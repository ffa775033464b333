"""``make demo``: start the sandbox, export every example segment into ./exports, show it.

Runs the real command line against the bundled sandbox over a real socket, so
what you see is what a scheduled export does.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
from pathlib import Path

from runner.errors import ExitCode
from runner.sandbox import Sandbox, SandboxOptions

DEMO_TOKEN = "sandbox-demo-token"


def main() -> int:
    root = Path(__file__).resolve().parent.parent  # the repository: scripts/ is at its top
    with Sandbox(SandboxOptions(users=5000, token=DEMO_TOKEN, faults="429=0.03,html=0.02")) as api:
        print(f"sandbox API listening on {api.url} (5,000 contacts, a few injected faults)\n")
        env = {**os.environ, "FLOWMATIX_API_URL": api.url, "FLOWMATIX_TOKEN": DEMO_TOKEN}
        cmd = [sys.executable, "-m", "runner", "export", "--results", "exports/run_results.json"]
        print("$ segments " + " ".join(cmd[3:]), flush=True)
        # Ctrl-C reaches the export too, which cleans up and exits 130: wait for that code.
        # (A KeyboardInterrupt here could land between waitpid and storing the status,
        # losing the code; a handler that returns lets waitpid simply retry. Handlers,
        # unlike SIG_IGN, are reset to the default in the child at exec.)
        previous = signal.signal(signal.SIGINT, lambda *_: None)
        try:
            code = subprocess.call(cmd, cwd=root, env=env)
        finally:
            signal.signal(signal.SIGINT, previous)
        if code in (ExitCode.INTERRUPTED, ExitCode.TERMINATED):
            return code
    sample = root / "exports" / "vip-whatsapp-last-7-days.csv"
    if sample.exists():
        print(f"\nfirst rows of {sample.relative_to(root)} (newlines inside cells shown as \\n):")
        with sample.open(encoding="utf-8-sig", newline="") as fh:
            for _, row in zip(range(8), csv.reader(fh), strict=False):
                cells = [c.replace("\r", "\\r").replace("\n", "\\n") for c in row]
                print("  " + " | ".join(cells))
        print(f"manifest: {sample.relative_to(root)}.manifest.json")
    return code


if __name__ == "__main__":
    sys.exit(main())
