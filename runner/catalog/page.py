"""The catalog site on disk: ``index.html`` with the data embedded as JSON, and ``assets/``.

The page is plain HTML, CSS and JavaScript (``assets/catalog.js`` builds it from
the embedded data); its only library is uPlot, vendored with its licence. Every
file is written whole or not at all, the assets first and ``index.html`` last,
so a catalog that fails halfway leaves the previous page working.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import orjson

from runner.catalog.model import CatalogData, catalog_list
from runner.sinks.local import write_atomically

ASSETS = ("catalog.js", "catalog.css", "uPlot.iife.min.js", "uPlot.min.css", "uPlot.LICENSE")
TEMPLATE = "index.html"
PLACEHOLDER = "<!--CATALOG-DATA-->"
LIST_PLACEHOLDER = "<!--CATALOG-LIST-->"
# Inside <script>, "</script" or "<!--" in a description would end the data early:
# no "<" reaches the page unescaped ("\u003c" is the same character to JSON.parse).
_ESCAPES = ((b"<", b"\\u003c"), (b">", b"\\u003e"), (b"&", b"\\u0026"))


def embedded_json(data: object) -> bytes:
    """``data`` as JSON safe to place inside ``<script type="application/json">``."""
    text = orjson.dumps(data)
    for raw, escaped in _ESCAPES:
        text = text.replace(raw, escaped)
    return text


def _asset(name: str) -> bytes:
    return resources.files("runner.catalog").joinpath("assets", name).read_bytes()


def write_site(folder: Path, data: CatalogData) -> tuple[Path, int]:
    """Write the site into ``folder``; the path of ``index.html`` and the site's bytes."""
    size = 0
    for name in ASSETS:
        content = _asset(name)
        _publish(folder / "assets" / name, content)
        size += len(content)
    page = _asset(TEMPLATE).replace(LIST_PLACEHOLDER.encode(), embedded_json(catalog_list(data)), 1)
    page = page.replace(PLACEHOLDER.encode(), embedded_json(data), 1)
    index = folder / "index.html"
    _publish(index, page)
    return index, size + len(page)


def _publish(path: Path, content: bytes) -> None:
    write_atomically(path, content)
    # A web page for anyone to read (a static host may serve it as another user); the
    # temporary it was written through is private.
    path.chmod(0o644)
