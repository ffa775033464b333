"""Faults on demand: ``429=0.1,html=0.05,drop@3|7,slow=0.02``.

Each entry is ``KIND=RATE`` (a probability per request) or ``KIND@N|N`` (on those
request numbers, counting from 1). Kinds:

- ``429`` (with ``Retry-After``), ``500``, ``502``, ``503`` (JSON bodies), ``html``
  (a gateway's 502 HTML page), ``drop`` (close the connection without a reply),
  ``slow`` (reply late);
- misbehaving servers: ``echo401``, ``echo500`` (a JSON error whose message quotes
  the request's ``Authorization`` header, several times, so that cutting it at 100,
  200 or 300 characters splits it), ``echohtml`` (the same in a 502 HTML page's
  title and body), ``echotext`` (the same in a plain-text 503); ``badjson`` (200,
  a body that starts like JSON and is cut short); ``cut`` (200, the page's own reply
  cut in half, as a proxy that drops a connection mid-body); ``bomb`` (200, a gzip body that
  inflates to ``bomb_mb`` MiB of spaces); ``trickle`` (the whole reply, status
  line first, one byte every ``trickle_ms``);
- replies that say failure in a ``200`` (see :data:`ENVELOPES`): ``env429`` (with
  ``Retry-After``), ``env500``, ``env401`` are ``{"success": false, "code": N,
  "message": ..., "data": []}``; ``env429bare``, ``env500bare``, ``env401bare`` the
  same without ``data``; ``envfalse`` has no ``code``, ``envcode`` says ``success:
  true`` with ``code`` 503, ``envmessage`` is a ``message`` alone, ``envnosuccess``
  an empty ``data`` with no ``success`` key.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any

import orjson

ENVELOPES: dict[str, dict[str, Any]] = {
    **{
        f"env{code}{bare}": {
            "success": False,
            "message": message,
            "code": code,
            **({} if bare else {"data": []}),
        }
        for code, message in (
            (429, "Too many requests, try later"),
            (500, "Internal server error"),
            (401, "Invalid token"),
        )
        for bare in ("", "bare")
    },
    "envfalse": {"success": False, "message": "Something went wrong", "data": []},
    "envcode": {"success": True, "message": "Service unavailable", "code": 503, "data": []},
    "envmessage": {"message": "Database connection lost"},
    "envnosuccess": {"message": "Users fetched", "code": 200, "data": []},
}

KINDS = (
    "429",
    "500",
    "502",
    "503",
    "html",
    "drop",
    "slow",
    "echo401",
    "echo500",
    "echohtml",
    "echotext",
    "badjson",
    "cut",
    "bomb",
    "trickle",
    *ENVELOPES,
)


@dataclass
class FaultPlan:
    rates: dict[str, float] = field(default_factory=dict)
    schedule: dict[int, str] = field(default_factory=dict)
    seed: int = 0
    count: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    @classmethod
    def parse(cls, spec: str, seed: int = 0) -> FaultPlan:
        plan = cls(seed=seed)
        plan._rng.seed(seed)
        for raw in filter(None, (part.strip() for part in spec.split(","))):
            if "@" in raw:
                kind, _, numbers = raw.partition("@")
                _kind(kind)
                for number in numbers.split("|"):
                    if not number.isdigit() or int(number) < 1:
                        raise ValueError(f"fault {raw!r}: request numbers are whole numbers from 1")
                    plan.schedule[int(number)] = kind
            elif "=" in raw:
                kind, _, rate = raw.partition("=")
                _kind(kind)
                try:
                    value = float(rate)
                except ValueError:
                    raise ValueError(f"fault {raw!r}: rate must be a number from 0 to 1") from None
                if not 0 <= value <= 1:
                    raise ValueError(f"fault {raw!r}: rate must be from 0 to 1")
                plan.rates[kind] = value
            else:
                raise ValueError(
                    f"fault {raw!r}: use KIND=RATE or KIND@N (kinds: {', '.join(KINDS)})"
                )
        if sum(plan.rates.values()) > 1:
            raise ValueError("fault rates add up to more than 1")
        return plan

    def next(self) -> str | None:
        """The fault for the next request, or None."""
        with self._lock:
            self.count += 1
            if self.count in self.schedule:
                return self.schedule[self.count]
            roll = self._rng.random()
        for kind, rate in self.rates.items():
            if roll < rate:
                return kind
            roll -= rate
        return None


def _kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; kinds: {', '.join(KINDS)}")


def echo_text(header: str) -> str:
    """A message that quotes ``header`` so that a cut at 100, 200 or 300 characters
    falls inside one of the quotes (a prefix of the secret would survive the cut)."""
    secret_at = len(header) - len(header.split(" ", 1)[-1])  # past "Bearer "
    text = "Unauthorized: the header you sent was"
    for cut in (100, 200, 300):
        text += "." * max(1, cut - 12 - secret_at - len(text)) + header
    return text + " and it is not valid"


def envelope_body(kind: str) -> bytes | None:
    """The body of an envelope fault (HTTP 200), or None if ``kind`` is not one."""
    found = ENVELOPES.get(kind)
    return None if found is None else orjson.dumps(found)
