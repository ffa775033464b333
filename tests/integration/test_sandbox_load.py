"""The sandbox's models of a deep list and a busy server, over a real socket: the cost of
skipping rows, a capacity, createdAt bounds, ties, a scrambled order, contacts arriving."""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests

from runner.sandbox import Sandbox
from tests.conftest import ANCHOR, ROOT, full_body, run_cli, wait_for
from tests.integration.fetching import EVERYONE

Start = Callable[..., Sandbox]


def post(api: Sandbox, **fields: Any) -> requests.Response:
    body = full_body(**{**EVERYONE, **fields})
    return requests.post(api.url + "/inbox/users", json=body, headers=api.headers, timeout=30)


def window(start: str, end: str, page: int = 1) -> dict[str, Any]:
    return {
        "applicableFilters": ["createdAt"],
        "createdAt": {"startAt": start, "endsAt": end},
        "page": page,
    }


def every_page(api: Sandbox, **fields: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for page in range(1, 1000):
        data = post(api, **{**fields, "page": page}).json()["data"]
        if not data:
            return out
        out += data
    raise AssertionError("paging never ended")


def ms(text: str, delta: int) -> str:
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    shifted = moment + dt.timedelta(milliseconds=delta)
    return shifted.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def timed(api: Sandbox, page: int) -> float:
    started = time.perf_counter()
    assert post(api, page=page).status_code == 200
    return time.perf_counter() - started


def test_a_deep_page_waits_for_the_rows_it_skips(sandbox: Start) -> None:
    api = sandbox(users=2000, page_size=50, skip_cost_us=100)
    timed(api, 1)  # the filter's first evaluation is not part of the cost
    # Lower bounds are the waits themselves; upper bounds only where what they tell
    # apart is ten times the noise of a loaded machine (page 1 skips nothing: well under
    # page 40's 0.195 s; page 500, past the end, skips the 2,000 rows there, not 24,950).
    first = min(timed(api, 1) for _ in range(3))
    assert first < 39 * 50 * 100e-6
    assert timed(api, 40) >= 39 * 50 * 100e-6  # 0.195 s
    assert 2000 * 100e-6 <= timed(api, 500) < 499 * 50 * 100e-6  # 0.2 s, not 2.5 s


def test_capacity_turns_away_what_it_cannot_serve(sandbox: Start) -> None:
    api = sandbox(users=10, capacity=2, latency_ms=1500, retry_after=3)
    slow: list[int] = []
    threads = [
        threading.Thread(target=lambda: slow.append(post(api).status_code)) for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    wait_for(lambda: api.stats["requests"] == 2)
    started = time.perf_counter()
    turned = [post(api) for _ in range(3)]
    assert time.perf_counter() - started < 1.0  # answered at once, not after the latency
    for reply in turned:
        assert reply.status_code == 429 and reply.headers["Retry-After"] == "3"
        assert reply.json()["success"] is False
    for thread in threads:
        thread.join()
    assert slow == [200, 200]
    assert post(api).status_code == 200  # seats are given back
    assert api.stats["turned_away"] == 3 and api.stats["requests"] == 6
    assert api.gate.report() == "sandbox: 6 requests, 3 turned away (50.0%) at capacity 2"


def test_cli_sandbox_reports_requests_turned_away_when_stopped() -> None:
    cmd = [sys.executable, "-m", "runner", "sandbox", "--port", "0", "--users", "5"]
    cmd += ["--capacity", "1", "--latency-ms", "1500", "--skip-cost-us", "2.5"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = ""
        for line in proc.stdout:
            if line.startswith("export FLOWMATIX_API_URL="):
                url = line.split("=", 1)[1].strip() + "/inbox/users"
                break
        headers = {"Authorization": "Bearer sandbox-token", "authtype": "Key"}
        body = full_body(**EVERYONE)
        first = threading.Thread(
            target=lambda: requests.post(url, json=body, headers=headers, timeout=30)
        )
        first.start()
        time.sleep(0.5)  # the first request is inside its 1.5 s latency
        assert requests.post(url, json=body, headers=headers, timeout=30).status_code == 429
        first.join()
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert "sandbox: 2 requests, 1 turned away (50.0%) at capacity 1" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--capacity", "-1"], "argument --capacity: expected a whole number from 0 to 10,000"),
        (["--skip-cost-us", "nan"], "argument --skip-cost-us: expected a number from 0 to 10,000"),
    ],
)
def test_cli_sandbox_refuses_bad_load_values(args: list[str], message: str) -> None:
    result = run_cli("sandbox", "--port", "0", *args)
    assert result.returncode == 2 and message in result.stderr


def test_created_at_bounds_are_inclusive_to_the_millisecond(sandbox: Start) -> None:
    api = sandbox(users=600, page_size=50, ties=70)
    tie = api.tie_instant
    everyone = every_page(api)
    created = [c["createdAt"] for c in everyone]
    assert created == sorted(created, reverse=True) and created.count(tie) == 70
    on_tie = [c["_id"] for c in everyone if c["createdAt"] == tie]
    assert [c["_id"] for c in every_page(api, **window(tie, tie))] == on_tie
    assert every_page(api, **window(ms(tie, 1), ms(tie, 1))) == []
    newer = every_page(api, **window(ms(tie, 1), ""))
    older = every_page(api, **window("", ms(tie, -1)))
    assert len(newer) + len(on_tie) + len(older) == 600
    # overlapping windows, the edge in both: together every contact, the tie twice
    top = every_page(api, **window(tie, ""))
    bottom = every_page(api, **window("", tie))
    assert [c["_id"] for c in top + bottom] == [c["_id"] for c in everyone[: len(top)]] + [
        c["_id"] for c in everyone[len(top) - 70 :]
    ]
    # createdAt named in applicableFilters is what makes the range apply
    assert len(every_page(api, createdAt={"startAt": tie, "endsAt": tie})) == 600


def test_tie_at_an_instant_takes_the_contacts_just_before_it(sandbox: Start) -> None:
    api = sandbox(users=300, page_size=50, ties=20, tie_at="2026-10-01T12:00:00Z")
    everyone = every_page(api)
    created = [c["createdAt"] for c in everyone]
    assert created == sorted(created, reverse=True)
    first = created.index("2026-10-01T12:00:00.000Z")
    assert created[first : first + 20] == ["2026-10-01T12:00:00.000Z"] * 20
    assert all(c > "2026-10-01T12:00:00.000Z" for c in created[:first])


def test_scrambled_order_pages_consistently_but_not_newest_first(sandbox: Start) -> None:
    api = sandbox(users=300, page_size=50, paging="scrambled", seed=3)
    contacts = every_page(api)
    created = [c["createdAt"] for c in contacts]
    assert created != sorted(created, reverse=True)
    ids = [c["_id"] for c in contacts]
    assert ids == api.truth(full_body(**EVERYONE))
    plain = sandbox(users=300, page_size=50, seed=3)
    assert sorted(ids) == sorted(plain.truth(full_body(**EVERYONE)))
    assert every_page(sandbox(users=300, page_size=50, paging="scrambled", seed=3)) == contacts


def test_churn_now_creates_contacts_after_the_anchor_on_top_of_every_list(
    sandbox: Start,
) -> None:
    api = sandbox(users=200, page_size=20, churn=3, churn_at="now")
    gold = {"tags": ["gold"]}
    gold_before = api.truth(full_body(**{**EVERYONE, **gold}))
    first = post(api, page=1).json()["data"]  # 3 contacts arrive after this page
    arrived = list(api.inserted)
    assert {c["_id"] for c in first}.isdisjoint(arrived) and len(arrived) == 3
    again = post(api, page=1).json()["data"]
    assert [c["_id"] for c in again[:3]] == arrived[::-1]
    stamps = [c["createdAt"] for c in again[:3]]
    assert stamps == sorted(stamps, reverse=True) and len(set(stamps)) == 3
    assert all(s > "2026-11-25T00:00:00.000Z" for s in stamps)
    # the new contacts copy the newest one, so they are "gold" when it is
    gold_now = api.truth(full_body(**{**EVERYONE, **gold}))
    copies_gold = "gold" in first[0]["profile"]["userDetails"]["tags"]
    assert (gold_now[:3] == api.inserted[::-1][:3]) is copies_gold
    # a window closed at the anchor never sees them
    closed = window("", ANCHOR)
    assert set(api.truth(full_body(**{**EVERYONE, **closed}))).isdisjoint(api.inserted)
    assert len(gold_now) - len(gold_before) == (3 * 2 if copies_gold else 0)


def test_unknown_churn_mode_is_refused(sandbox: Start) -> None:
    with pytest.raises(ValueError, match="sandbox churn_at 'later'; choose one of top, now"):
        sandbox(churn_at="later")
