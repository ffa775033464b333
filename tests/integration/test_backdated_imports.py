"""Contacts imported with a past createdAt while a windowed export runs, against the
sandbox over a socket, through the CLI: they land inside a createdAt window read before
they came, so no window sees them, and the check for contacts outside every window finds
the list longer than the windows counted. The run fails, publishes nothing, and says
both causes that look alike from there and what to do; the run after it exports them."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from runner.sandbox import Sandbox
from tests.conftest import ANCHOR, EVERYONE_IDS, WINDOWS_RUNNER, api_env, make_project, run_cli

Start = Callable[..., Sandbox]
OUT = Path("out") / "everyone.csv"


class Imports:
    """Before the first request for the segment's own list (the check after the windows:
    no createdAt window in its filters), ``count`` contacts imported with the createdAt
    of the list's ``row``-th contact, long before the as-of, as an import of old
    contacts carries (:meth:`Sandbox.backdate`: in every list at once, at their place).
    ``windows``: the createdAt ranges asked before that."""

    def __init__(self, api: Sandbox, count: int, row: int) -> None:
        self.api, self.page, self.count, self.row = api, api.page, count, row
        self.ids: list[str] = []
        self.windows: set[str] = set()
        self.lock = threading.Lock()

    def __call__(self, body: dict[str, Any]) -> bytes:
        with self.lock:
            if "createdAt" in body["applicableFilters"]:
                self.windows.add(orjson.dumps(body["createdAt"]).decode())
            elif not self.ids:
                self.ids = self.api.backdate(self.count, self.row)
        reply: bytes = self.page(body)
        return reply


def ids_in(path: Path) -> list[str]:
    return [line.split(",")[0] for line in path.read_text().splitlines()[1:]]


@pytest.mark.parametrize("count", [1, 7, 30])
def test_contacts_imported_with_a_past_created_at_during_a_windowed_run_fail_it_saying_so(
    sandbox: Start, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, count: int
) -> None:
    api = sandbox(users=3000, page_size=25, shape="uniform", skip_cost_us=50.0)
    project = make_project(tmp_path / "p", {"everyone": EVERYONE_IDS}, WINDOWS_RUNNER % "true")
    args = ("export", "--as-of", ANCHOR)
    first = run_cli(*args, cwd=project, env=api_env(api))
    assert first.returncode == 0, first.stderr
    before = (project / OUT).read_bytes()

    imports = Imports(api, count, row=40)
    monkeypatch.setattr(api, "page", imports)
    failed = run_cli(*args, cwd=project, env=api_env(api))
    assert len(imports.ids) == count, imports.windows  # they came, after the windows were read
    assert failed.returncode == 1, failed.stdout + failed.stderr
    said = " ".join(failed.stderr.split())
    assert f"{count:,} contacts match the segment but no createdAt window read them" in said
    assert "imported with a past createdAt while the export ran" in said
    assert "Run the export again" in said and "Traceback" not in failed.stderr
    assert (project / OUT).read_bytes() == before  # nothing published

    again = run_cli(*args, cwd=project, env=api_env(api))  # what the message advises
    assert again.returncode == 0, again.stderr
    exported = ids_in(project / OUT)
    assert set(imports.ids) <= set(exported)
    assert len(exported) == len(set(exported)) == len(ids_in_bytes(before)) + count


def ids_in_bytes(data: bytes) -> list[str]:
    return [line.split(b",")[0].decode() for line in data.splitlines()[1:]]
