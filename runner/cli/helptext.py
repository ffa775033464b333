"""What ``segments export --help`` names. ``tests/cli/test_docs_match.py`` holds the names
to the registries (``runner.formats.FORMATS``, ``runner.rows.presets.PRESETS``), which
``--help`` does not import (they load the format and row machinery)."""

from __future__ import annotations

FORMATS_NAMED = ("csv", "jsonl", "xlsx", "parquet")
PRESETS_NAMED = (
    "meta_custom_audience",
    "google_customer_match",
    "tiktok_custom_audience",
    "klaviyo",
    "hubspot",
    "mailchimp",
)
_FORMATS = ", ".join(FORMATS_NAMED[:-1]) + f" or {FORMATS_NAMED[-1]}"
EXPORT_HELP = f"fetch every page and publish {_FORMATS} (or a platform preset) with a manifest"
EXPORT_DESCRIPTION = (
    f"Fetch every page of each selected segment and publish it as {_FORMATS} "
    "(output.format; csv and jsonl also gzipped), or as a platform's import file "
    f"(output.preset: {', '.join(PRESETS_NAMED)}), with a manifest, to disk or S3."
)
PROGRESS = ["auto", "live", "log"]
PROGRESS_HELP = (
    "live: one line redrawn, with the rows expected and the time left when the last run "
    "gives an estimate; log: a line every 10 s with pages, rows and rate, for CI; "
    "auto (default): live on a terminal, else log"
)
