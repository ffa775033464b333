"""The catalog page in a real headless Chromium (Debian's `chromium`, driven by Playwright
through executable_path), opened from file://: what a person sees and can do, that no
request leaves file://, that nothing reaches the console, and the 500 x 365 targets.

`make test-browser` runs these (marker `browser`); they need /usr/bin/chromium
(apt-get install -y --no-install-recommends chromium) or CHROMIUM=path. A screenshot
of each page is kept in test-artifacts/ at the top of the repository.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from runner.spec.workspace import Workspace
from tests.conftest import ROOT
from tests.integration.catalog_project import HOSTILE

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
ROWS_BLUE = (0x1F, 0x6F, 0xEB)  # the rows series' colour in catalog.js


@dataclass
class Visit:
    """A page and everything it did: requests, console messages, errors, dialogs."""

    page: Any
    requests: list[str] = field(default_factory=list)
    console: list[tuple[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def rows(self) -> dict[str, dict[str, str]]:
        """The visible rows of the list: name -> cell texts by class."""
        return dict(
            self.page.eval_on_selector_all(
                "#segments tbody tr:not([hidden])",
                """trs => trs.map(tr => [tr.dataset.name, Object.fromEntries(
                    [...tr.cells].map(td => [td.className.split(' ')[0], td.innerText.trim()]))])""",
            )
        )

    def show(self, name: str) -> None:
        """Open a segment's detail as a person does, and wait until it is drawn: the
        detail renders on `hashchange`, after the click has returned."""
        self.page.click(f"#segments a:text-is('{name}')")
        self.page.wait_for_selector(f"#detail h2:text-is('{name}')")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: apt-get install -y --no-install-recommends chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from runner.cli import main
    from tests.integration.catalog_project import exported_project

    project = exported_project(tmp_path_factory.mktemp("browser"))
    assert main(["-C", str(project), "catalog", "--out", str(project / "site")]) == 0
    return project


def visit(browser: Any, index: Path, fragment: str = "") -> Iterator[Visit]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    seen = Visit(page)
    page.on("request", lambda r: seen.requests.append(r.url))
    page.on("console", lambda m: seen.console.append((m.type, m.text)))
    page.on("pageerror", lambda e: seen.errors.append(str(e)))
    page.on("dialog", lambda d: (seen.dialogs.append(d.message), d.dismiss()))
    # Anything not from file:// is refused before it can leave (and counted above).
    context.route(lambda url: not url.startswith("file://"), lambda route: route.abort())
    page.goto(index.as_uri() + fragment)
    page.wait_for_selector("body[data-ready=true]")
    yield seen
    context.close()


@pytest.fixture
def opened(browser: Any, site: Path) -> Iterator[Visit]:
    yield from visit(browser, site / "site" / "index.html")


def test_the_page_names_every_segment_with_its_owner(opened: Visit, site: Path) -> None:
    ws = Workspace.open(site, env={})
    expected = {seg.name: seg.owner for seg in ws.segments}
    shown = {name: cells["owner"] for name, cells in opened.rows().items()}
    assert shown == expected
    assert len(expected) == 4


def test_the_chart_of_a_segment_with_four_runs_draws_four_points(opened: Visit) -> None:
    page = opened.page
    opened.show("four-runs")
    page.wait_for_selector("#detail .plot[data-points] canvas")
    points = json.loads(page.get_attribute("#detail .plot", "data-points"))
    assert len(points) == 4
    # Read the canvas where each point should be: the rows colour is drawn there.
    colours = page.eval_on_selector(
        "#detail .plot canvas",
        """(canvas, points) => points.map(([x, y]) =>
            Array.from(canvas.getContext('2d').getImageData(x, y, 1, 1).data.slice(0, 3)))""",
        points,
    )
    for colour in colours:
        assert all(abs(a - b) <= 24 for a, b in zip(colour, ROWS_BLUE, strict=True)), colours
    alt = page.inner_text("#detail figcaption")
    assert alt.startswith("Rows per run: 4 runs from ")
    assert page.get_attribute("#detail figure", "aria-label") == alt
    assert page.locator("#detail .runs tbody tr").count() == 4


def test_search_and_filters_narrow_the_list(opened: Visit) -> None:
    page = opened.page
    assert set(opened.rows()) == {"four-runs", "flaky", "hourly", "never-run"}
    page.fill("#search", "gold")  # a tag in the filter text of one segment
    assert set(opened.rows()) == {"never-run"}
    page.fill("#search", "64f1a2b3c4d5e6f7a8b9c0d1")  # a bot id, only in flaky's filter
    assert set(opened.rows()) == {"flaky"}
    page.fill("#search", "example.com vip")  # every word must match
    assert set(opened.rows()) == {"four-runs"}
    assert page.inner_text("#shown") == "1 of 4 segments"
    page.fill("#search", "")
    page.select_option("#owner", "chen@example.com")
    assert set(opened.rows()) == {"hourly"}
    page.select_option("#owner", "")
    folders = page.eval_on_selector_all("#destination option", "os => os.map(o => o.value)")
    (crm,) = [f for f in folders if f.endswith("/out/crm/")]  # where flaky's file goes
    page.select_option("#destination", crm)
    assert set(opened.rows()) == {"flaky"}
    page.select_option("#destination", "")
    page.select_option("#status", "never")
    assert set(opened.rows()) == {"never-run"}
    page.select_option("#status", "last run failed")
    assert set(opened.rows()) == {"flaky"}


def test_a_never_run_segment_is_not_shown_fresh(opened: Visit) -> None:
    row = opened.rows()["never-run"]
    assert row["freshness"] == "never"
    assert row["last"] == "never run"
    opened.show("never-run")
    facts = opened.page.inner_text("#detail .facts")
    assert "never published" in facts and "fresh" not in facts.replace("fresh_within", "")
    assert opened.page.inner_text("#detail .chart-alt") == "No runs recorded yet."


def test_nothing_leaves_file_and_nothing_reaches_the_console(opened: Visit, site: Path) -> None:
    page = opened.page
    for name in ("four-runs", "flaky", "hourly", "never-run"):
        opened.show(name)
    page.click("#detail details.raw summary")
    assert opened.requests and all(url.startswith("file://") for url in opened.requests)
    assert opened.console == [] and opened.errors == []
    assert opened.dialogs == []  # flaky's description holds <script>alert(...)</script>
    opened.show("flaky")
    shown = page.eval_on_selector("#detail .description", "e => e.textContent")
    assert shown == HOSTILE  # shown as text, whole
    ARTIFACTS.mkdir(exist_ok=True)
    opened.show("four-runs")
    page.wait_for_selector("#detail .plot[data-points]")
    shot = ARTIFACTS / "catalog.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_500_segments_of_365_runs(browser: Any, tmp_path: Path) -> None:
    from bench.catalog_site import make_project, site_bytes
    from runner.cli import main

    project = make_project(tmp_path / "big")
    assert main(["-C", str(project), "catalog", "--out", str(project / "site")]) == 0
    size = site_bytes(project / "site")
    assert size < 25_000_000, size
    for seen in visit(browser, project / "site" / "index.html", "#segment=segment-0007"):
        ready_ms = int(seen.page.get_attribute("body", "data-ready-ms"))
        assert ready_ms < 2000, ready_ms
        assert len(seen.rows()) == 500
        assert seen.rows()["segment-0499"]["freshness"] == "never"
        seen.page.fill("#search", "segment-00")
        assert len(seen.rows()) == 100
        points = json.loads(seen.page.get_attribute("#detail .plot", "data-points"))
        assert len(points) == sum(
            r["status"] == "success" for r in _entry(project, "segment-0007")["runs"]
        )
        assert seen.console == [] and seen.errors == []
        ARTIFACTS.mkdir(exist_ok=True)
        seen.page.screenshot(path=str(ARTIFACTS / "catalog-500x365.png"))
        print(f"500 x 365: site {size / 1e6:.1f} MB, interactive after {ready_ms} ms")


def _entry(project: Path, name: str) -> dict[str, Any]:
    from tests.integration.test_catalog import page_data

    data = page_data(project / "site" / "index.html")
    return next(s for s in data["segments"] if s["name"] == name)
