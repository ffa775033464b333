"""What a sandbox serves and how (``segments sandbox`` options, :class:`Sandbox`'s)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SandboxOptions:
    host: str = "127.0.0.1"
    port: int = 0
    users: int = 1000
    seed: int = 1
    token: str = "sandbox-token"
    page_size: int = 50
    latency_ms: float = 0.0
    faults: str = ""
    churn: int = 0
    anchor: str | None = None  # ISO instant the data is generated around; default today 00:00Z
    slow_ms: float = 1500.0
    retry_after: int = 1
    ignore_page: bool = False  # the same as paging="ignore"
    path: str = "/inbox/users"
    paging: str = "pages"  # see PAGING
    records: str = "contacts"  # see RECORDS
    trickle_ms: float = 500.0  # the ``trickle`` fault: one byte every this many ms
    bomb_mb: int = 1024  # the ``bomb`` fault: MiB of spaces once inflated
    skip_cost_us: float = 0.0  # page N waits (N - 1) x page_size x this (a database's skip)
    capacity: int = 0  # requests served at once (0: no limit); more are turned away with 429
    churn_at: str = "top"  # see CHURN
    ties: int = 0  # contacts moved onto one createdAt instant (Population.tie)
    tie_at: str | None = None  # that instant; default the middle contact's
    shape: str = "uniform"  # see runner.sandbox.shapes.SHAPES (stale:14d: N days)
    missing_created: float = 0.0  # share of contacts without createdAt (0.02: 2 %)
    missing_form: str = "absent"  # see shapes.MISSING_FORMS
    missing_at: str = "end"  # see shapes.MISSING_AT
    echo_form: str = "raw"  # how echo faults quote the Authorization header (ECHO_FORMS)
    clock_skew_s: float = 0.0  # the Date header's clock ahead of this machine's (seconds)
    saved: str = ""  # JSON of GET /inbox/segments' "data" instead of SAVED (a listing to survive)


PAGING = {
    "pages": "page N is the N-th slice of the matches, as the API does",
    "ignore": "every page is page 1",
    "rotate": "every page holds page 1's records, rotated by N - 1",
    "alternate": "odd pages are page 1, even pages page 2",
    "endless": "past the last page, pages of new contacts for ever",
    "scrambled": "pages of a list in an order unrelated to createdAt (the same for a seed)",
    "unfiltered": "pages as the API does, but createdAt ranges are not applied",
}
