"""The sandbox over a real socket: auth, body errors, paging, filters, faults, churn."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest
import requests

from runner.sandbox import Sandbox, SandboxOptions
from runner.sandbox import dataset as dataset_module
from tests.conftest import ANCHOR, BuiltOnce, full_body

Start = Callable[..., Sandbox]


def post(api: Sandbox, body: Any, headers: dict[str, str] | None = None) -> requests.Response:
    hdrs = api.headers if headers is None else headers
    if isinstance(body, bytes):
        return requests.post(api.url + "/inbox/users", data=body, headers=hdrs, timeout=10)
    return requests.post(api.url + "/inbox/users", json=body, headers=hdrs, timeout=10)


def all_pages(api: Sandbox, **fields: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    with requests.Session() as session:
        for page in range(1, 10_000):
            reply = session.post(
                api.url + "/inbox/users", json=full_body(**fields, page=page), headers=api.headers
            )
            assert reply.status_code == 200
            data = reply.json()["data"]
            if not data:
                return out
            out += data
    raise AssertionError("paging never ended")


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({}, "no headers"),
        ({"authtype": "Key"}, "no bearer"),
        ({"Authorization": "Bearer wrong", "authtype": "Key"}, "wrong token"),
        ({"Authorization": "Bearer sandbox-token"}, "no authtype"),
    ],
)
def test_auth_failures_get_401_envelope(sandbox: Start, headers: dict[str, str], why: str) -> None:
    api = sandbox(users=10)
    reply = post(api, full_body(), headers)
    assert reply.status_code == 401, why
    assert reply.json() == {
        "success": False,
        "message": "Unauthorized: invalid or missing token",
        "code": 401,
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "Unexpected token in JSON body"),
        ({k: v for k, v in full_body().items() if k != "tags"}, "Missing required field: tags"),
        (full_body(tags="vip"), 'Cast to Array failed for value "vip" (type str) at path "tags"'),
        (
            full_body(isOnline="yes"),
            'Cast to Boolean failed for value "yes" (type str) at path "isOnline"',
        ),
        (
            full_body(createdAt={"startAt": "soon", "endsAt": ""}),
            'Cast to date failed for value "soon" (type string) at path "createdAt.startAt"',
        ),
        (full_body(page=0), "page must be 1 or more, got 0"),
        (full_body(page="2"), 'Cast to Number failed for value "2" (type str) at path "page"'),
    ],
)
def test_body_errors_get_400_envelope(sandbox: Start, body: Any, message: str) -> None:
    api = sandbox(users=10)
    reply = post(api, body)
    assert reply.status_code == 400
    assert reply.json() == {"success": False, "message": message, "code": 400}


def test_paging_to_the_end_newest_first(sandbox: Start) -> None:
    api = sandbox(users=230, page_size=50)
    contacts = all_pages(api, isContact=False, applicableFilters=[])
    ids = [c["_id"] for c in contacts]
    assert len(ids) == len(set(ids)) == 230
    created = [c["createdAt"] for c in contacts]
    assert created == sorted(created, reverse=True)
    assert ids == api.truth(full_body(isContact=False, applicableFilters=[]))
    # past the end: an empty list, still a success envelope
    reply = post(api, full_body(isContact=False, applicableFilters=[], page=6)).json()
    assert reply == {
        "success": True,
        "message": "Users fetched successfully",
        "data": [],
        "code": 200,
    }


def test_contacts_are_shaped_like_the_platform(sandbox: Start) -> None:
    api = sandbox(users=300)
    contacts = all_pages(api, isContact=False)
    first = contacts[0]
    assert len(first["_id"]) == 24 and int(first["_id"], 16) >= 0
    phone = first["profile"]["userDetails"]["contact"]["phone"]
    assert set(phone) == {"number", "prefix"}
    assert first["createdAt"].endswith("Z") and len(first["createdAt"]) == 24
    names = [c["profile"]["userDetails"]["name"] for c in contacts]
    hostile = [n for n in names if not n.replace(" ", "").isalpha()]
    assert 0.03 < len(hostile) / len(names) < 0.25
    prefixes = {c["profile"]["userDetails"]["contact"]["phone"]["prefix"][:1] for c in contacts}
    assert "+" in prefixes and any(p.isdigit() for p in prefixes)


def _naive(contact: dict[str, Any], **f: Any) -> bool:
    """A second, plain reading of the filter semantics, written without the sandbox's code."""
    d = contact["profile"]["userDetails"]
    body = full_body(**f)
    ok = True
    if body["searchText"]:
        hay = [
            d["name"],
            d["userProvidedName"],
            d["contact"]["email"],
            d["contact"]["phone"]["prefix"] + d["contact"]["phone"]["number"],
        ]
        ok &= any(body["searchText"].lower() in h.lower() for h in hay)
    if body["tags"]:
        ok &= bool(set(body["tags"]) & set(d["tags"]))
    if body["status"]:
        ok &= contact["status"] in body["status"]
    if body["_botWhatsapp"]:
        ok &= contact["platform"] == ["WHATSAPP"] and contact["_bot"] in body["_botWhatsapp"]
    if body["_agentAssigned"]:
        ok &= contact["_agentAssigned"] in body["_agentAssigned"]
    if body["segments"]:
        ok &= bool(set(body["segments"]) & set(contact["segments"]))
    if body["lastMessageBy"]:
        ok &= contact["lastMessage"]["by"] in body["lastMessageBy"]
    if body["isContact"]:
        ok &= contact["isContact"]
    for toggle in ("isOnline", "userInteracted", "isLiveChatActive", "isSubscriber"):
        if toggle in body["applicableFilters"]:
            ok &= contact[toggle] == body[toggle]
    for rng in ("lastSeenAt", "createdAt"):
        if rng in body["applicableFilters"]:
            lo, hi = body[rng]["startAt"], body[rng]["endsAt"]
            ok &= (not lo or contact[rng] >= lo) and (not hi or contact[rng] <= hi)
    if "hasOrdered" in body["applicableFilters"]:
        want, since = body["hasOrdered"]["status"], body["hasOrdered"]["lastAt"]
        got = contact["hasOrdered"]
        if want:
            ok &= got["status"] and (not since or got["lastAt"] >= since)
        else:
            ok &= not got["status"] or bool(since and got["lastAt"] < since)
    return bool(ok)


FILTERS: list[dict[str, Any]] = [
    {"searchText": "PATEL"},
    {"searchText": "98"},
    {"tags": ["vip", "gold"]},
    {"status": ["OPEN", "REVIEW"]},
    {"_botWhatsapp": ["64f1c2a9e4b0a1b2c3d4e5f6"]},
    {"_agentAssigned": ["65a0b1c2d3e4f5a6b7c8d901"]},
    {"segments": ["66b0c1d2e3f4a5b6c7d8e902"]},
    {"lastMessageBy": ["bot"]},
    {"isContact": True},
    {"applicableFilters": ["isOnline"], "isOnline": True},
    {"applicableFilters": ["userInteracted"], "userInteracted": False},
    {"applicableFilters": ["isLiveChatActive"], "isLiveChatActive": True},
    {"applicableFilters": ["isSubscriber"], "isSubscriber": True},
    {
        "applicableFilters": ["lastSeenAt"],
        "lastSeenAt": {"startAt": "2026-11-18T00:00:00.000Z", "endsAt": "2026-11-25T00:00:00.000Z"},
    },
    {
        "applicableFilters": ["createdAt"],
        "createdAt": {"startAt": "2026-11-01T00:00:00.000Z", "endsAt": ""},
    },
    {
        "applicableFilters": ["hasOrdered"],
        "hasOrdered": {"status": True, "lastAt": "2026-10-01T00:00:00.000Z"},
    },
    {
        "applicableFilters": ["hasOrdered"],
        "hasOrdered": {"status": False, "lastAt": "2026-08-27T00:00:00.000Z"},
    },
]
# Set but not listed in applicableFilters: ignored, like the real API.
NOT_APPLICABLE: dict[str, Any] = {
    "applicableFilters": [],
    "isOnline": True,
    "createdAt": {"startAt": "2030-01-01T00:00:00.000Z", "endsAt": ""},
}


@pytest.mark.parametrize("fields", FILTERS, ids=lambda f: ",".join(f))
def test_each_filter_field(sandbox: Start, fields: dict[str, Any]) -> None:
    api = sandbox(users=600, seed=7)
    everyone = all_pages(api, isContact=False, applicableFilters=[])
    fields = {"isContact": False, "applicableFilters": [], **fields}
    expected = [c["_id"] for c in everyone if _naive(c, **fields)]
    got = [c["_id"] for c in all_pages(api, **fields)]
    assert got == expected
    # Each filter is really applied: it keeps some contacts and leaves others out.
    assert 0 < len(got) < len(everyone), f"{fields}: {len(got)} of {len(everyone)} contacts"


def test_filters_not_in_applicable_filters_are_ignored(sandbox: Start) -> None:
    api = sandbox(users=600, seed=7)
    everyone = [c["_id"] for c in all_pages(api, isContact=False, applicableFilters=[])]
    ignored = [c["_id"] for c in all_pages(api, isContact=False, **NOT_APPLICABLE)]
    assert ignored == everyone
    listed = {**NOT_APPLICABLE, "applicableFilters": ["isOnline", "createdAt"]}
    applied = [c["_id"] for c in all_pages(api, isContact=False, **listed)]
    assert len(applied) < len(everyone), "the same values, listed, must narrow the list"


def test_same_seed_same_contacts(sandbox: Start) -> None:
    # The second is built here, not read from what the fixture kept of the first.
    first, other = sandbox(users=100, seed=3), sandbox(users=100, seed=4)
    with Sandbox(SandboxOptions(users=100, seed=3, anchor=ANCHOR)) as second:
        body = {"isContact": False}
        assert all_pages(first, **body) == all_pages(second, **body)
        assert all_pages(first, **body) != all_pages(other, **body)


# A recipe, and one of its fields changed: other contacts, not the ones kept for it.
RECIPES = [
    ({"users": 300, "seed": 7, "shape": "growth", "ties": 40, "missing_created": 0.05},
     {"ties": 41}),
    ({"users": 200, "seed": 2, "records": "int-ids", "paging": "scrambled"},
     {"records": "missing-ids"}),
    ({"users": 250, "seed": 5, "shape": "stale:30d", "missing_at": "start",
      "missing_created": 0.1, "missing_form": "null"}, {"missing_form": "empty"}),
]  # fmt: skip


@pytest.mark.parametrize(("recipe", "change"), RECIPES)
def test_contacts_built_once_a_run_are_what_a_server_builds_itself(
    sandbox: Start,
    built_once: BuiltOnce,
    monkeypatch: pytest.MonkeyPatch,
    recipe: dict[str, Any],
    change: dict[str, Any],
) -> None:
    """The fixture's servers share what one recipe built (a file of the run's): a server
    started from it serves the contacts one built alone serves, contacts that arrived at
    one server (churn) are in no other, and a recipe one field away is built apart."""
    builds: list[object] = []
    real = dataset_module.build
    monkeypatch.setattr("tests.conftest.build", lambda r: builds.append(r) or real(r))
    live = {"churn": 3, "churn_at": "now"}
    first = sandbox(**recipe, **live)  # built, and kept: contacts arrive at it below
    all_pages(first, isContact=False)
    assert first.inserted
    second = sandbox(**recipe)  # read back
    assert len(builds) <= 1  # once, or not at all where another test built it first
    with Sandbox(SandboxOptions(**{"anchor": ANCHOR, **recipe})) as alone:  # type: ignore[arg-type]
        assert all_pages(second, isContact=False) == all_pages(alone, isContact=False)
        assert second.population.facts == alone.population.facts
        assert second.population.dated == alone.population.dated
        assert (second.missing_created, second.tie_instant) == (
            alone.missing_created,
            alone.tie_instant,
        )
    assert not set(first.inserted) & {f.id for f in second.population.facts}
    changed = sandbox(**{**recipe, **change})
    assert changed.population.blobs != second.population.blobs and len(builds) <= 2


@pytest.mark.parametrize(
    ("kind", "status", "content_type"),
    [
        ("429", 429, "application/json"),
        ("500", 500, "application/json"),
        ("503", 503, "application/json"),
        ("html", 502, "text/html"),
    ],
)
def test_scheduled_faults(sandbox: Start, kind: str, status: int, content_type: str) -> None:
    api = sandbox(users=10, faults=f"{kind}@2")
    assert post(api, full_body()).status_code == 200
    reply = post(api, full_body())
    assert reply.status_code == status
    assert reply.headers["Content-Type"].startswith(content_type)
    if kind == "429":
        assert reply.headers["Retry-After"] == "1"
    assert post(api, full_body()).status_code == 200


def test_dropped_connection_and_slow_reply(sandbox: Start) -> None:
    api = sandbox(users=10, faults="drop@1,slow@2", slow_ms=800)
    with pytest.raises(requests.ConnectionError):
        post(api, full_body())
    with pytest.raises(requests.ReadTimeout):
        requests.post(api.url + "/inbox/users", json=full_body(), headers=api.headers, timeout=0.3)
    assert api.stats["fault:drop"] == 1 and api.stats["fault:slow"] == 1


def test_fault_rates_are_seeded(sandbox: Start) -> None:
    api = sandbox(users=10, faults="503=0.5", seed=11)
    codes = [post(api, full_body()).status_code for _ in range(40)]
    assert 8 < codes.count(503) < 32
    again = sandbox(users=10, faults="503=0.5", seed=11)
    assert [post(again, full_body()).status_code for _ in range(40)] == codes


def test_churn_shifts_pages_so_page_numbers_repeat_contacts(sandbox: Start) -> None:
    api = sandbox(users=200, page_size=20, churn=5)
    body = {"isContact": False}
    before = api.truth(full_body(**body))
    seen = [c["_id"] for c in all_pages(api, **body)]
    assert len(seen) > len(set(seen))  # duplicates across pages, as with live data
    assert set(before) <= set(seen)  # but nothing is missed
    assert len(api.inserted) > 0 and set(api.inserted).isdisjoint(before)


def test_unknown_path_is_404(sandbox: Start) -> None:
    api = sandbox(users=1)
    reply = requests.post(api.url + "/inbox/other", json={}, headers=api.headers, timeout=5)
    assert reply.status_code == 404 and reply.json()["success"] is False


def _page_ids(api: Sandbox, page: int) -> list[Any]:
    reply = post(api, full_body(isContact=False, applicableFilters=[], page=page))
    return [c["_id"] for c in reply.json()["data"]]


def test_paging_modes_that_misbehave(sandbox: Start) -> None:
    rotate = sandbox(users=120, page_size=50, paging="rotate")
    first = _page_ids(rotate, 1)
    assert _page_ids(rotate, 2) == first[1:] + first[:1]
    assert _page_ids(rotate, 9) == first[8:] + first[:8]
    alternate = sandbox(users=120, page_size=50, paging="alternate")
    one, two = _page_ids(alternate, 1), _page_ids(alternate, 2)
    assert set(one).isdisjoint(two) and _page_ids(alternate, 3) == one
    assert _page_ids(alternate, 4) == two
    endless = sandbox(users=60, page_size=50, paging="endless")
    past_the_end = [_page_ids(endless, n) for n in (3, 4, 1000)]
    assert all(len(ids) == 50 for ids in past_the_end)
    assert len({i for ids in past_the_end for i in ids}) == 150
    with pytest.raises(ValueError, match="sandbox paging 'sideways'; choose one of pages"):
        sandbox(paging="sideways")


def test_record_shapes_that_misbehave(sandbox: Start) -> None:
    everyone = {"isContact": False, "applicableFilters": []}
    ints = all_pages(sandbox(users=80, records="int-ids"), **everyone)
    ids = [c["_id"] for c in ints]
    assert all(type(i) is int for i in ids) and len(set(ids)) == 80
    assert len({hash(i) or 1 for i in ids}) <= 80 // 4 + 2  # what hash() folds together
    odd = post(sandbox(users=30, records="non-objects"), full_body(**everyone)).json()
    assert [r for r in odd["data"] if not isinstance(r, dict)] == [1, "a", None]
    missing = all_pages(sandbox(users=30, records="missing-ids"), **everyone)
    assert sum("_id" not in c for c in missing) == 3


def test_echo_faults_quote_the_authorization_header(sandbox: Start) -> None:
    api = sandbox(users=10, faults="echo401@1,echo500@2,echohtml@3,echotext@4")
    header = api.headers["Authorization"]
    replies = [post(api, full_body()) for _ in range(4)]
    assert [r.status_code for r in replies] == [401, 500, 502, 503]
    assert replies[0].json()["message"].count(header) == 3
    assert replies[2].text.startswith("<html><head><title>Unauthorized: ")
    assert all(header in r.text for r in replies)


def test_badjson_and_bomb_faults(sandbox: Start) -> None:
    import gzip

    api = sandbox(users=10, faults="badjson@1,bomb@2", bomb_mb=16)
    bad = post(api, full_body())
    assert bad.status_code == 200 and bad.text.startswith('{"success":true')
    with pytest.raises(ValueError):
        bad.json()
    raw = requests.post(
        api.url + "/inbox/users", json=full_body(), headers=api.headers, stream=True, timeout=10
    )
    assert raw.headers["Content-Encoding"] == "gzip"
    compressed = raw.raw.read(decode_content=False)
    assert len(compressed) < 64 * 1024
    assert len(gzip.decompress(compressed)) == 16 * 2**20 + len('{"success":true,"data":[')


def test_trickle_sends_one_byte_at_a_time(sandbox: Start) -> None:
    import socket
    import time

    api = sandbox(users=10, faults="trickle@1", trickle_ms=50)
    host, port = api.url.removeprefix("http://").split(":")
    body = orjson.dumps(full_body())
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        head = (
            f"POST /inbox/users HTTP/1.1\r\nHost: x\r\nAuthorization: {api.headers['Authorization']}"
            f"\r\nauthtype: Key\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        start = time.monotonic()
        sock.sendall(head.encode() + body)
        got = b""
        while len(got) < 5:  # a reader late by a loaded machine finds two bytes waiting
            got += sock.recv(5 - len(got))
        elapsed = time.monotonic() - start
    # The status line itself, paced by the server: five bytes, four gaps of 50 ms at the
    # least (a reply sent at once is here in one read, in milliseconds).
    assert got == b"HTTP/"
    assert elapsed >= 0.19
