"""Faults on demand: ``429=0.1,html=0.05,drop@3|7,slow=0.02``.

Each entry is ``KIND=RATE`` (a probability per request) or ``KIND@N|N`` (on those
request numbers, counting from 1). Kinds:

- ``429`` (with ``Retry-After``), ``500``, ``502``, ``503`` (JSON bodies), ``html``
  (a gateway's 502 HTML page), ``drop`` (close the connection without a reply),
  ``slow`` (reply late);
- misbehaving servers: ``echo401``, ``echo500`` (a JSON error whose message quotes
  the request's ``Authorization`` header, several times, so that cutting it at 100,
  200 or 300 characters splits it), ``echohtml`` (the same in a 502 HTML page's
  title and body), ``echotext`` (the same in a plain-text 503), each quoting the
  header as ``echo_form`` says (:data:`ECHO_FORMS`: percent-encoded, JSON-escaped,
  HTML entities, base64 ...); ``badjson`` (200,
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

import base64
import email.utils
import html.entities
import json
import random
import re
import struct
import threading
import time
import urllib.parse
import zlib
from collections.abc import Callable
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


def _b64(text: str, url: bool = False, pad: bool = True) -> str:
    encoded = (base64.urlsafe_b64encode if url else base64.b64encode)(text.encode()).decode()
    return encoded if pad else encoded.rstrip("=")


def _token(header: str) -> str:
    return header.split(" ", 1)[-1]


def _each(header: str, escape: Callable[[str], str]) -> str:
    """``header`` with every character but letters and digits escaped."""
    return "".join(char if char.isalnum() else escape(char) for char in header)


# The shortest HTML5 named entity of each character that has one (&plus; &sol; ...).
_NAMED = {
    value: f"&{name}"
    for name, value in sorted(html.entities.html5.items(), key=lambda kv: -len(kv[0]))
    if name.endswith(";") and len(value) == 1
}

# How the ``echo*`` faults quote the request's Authorization header (``echo_form``):
# the ways servers and proxies are seen to re-encode what they echo.
ECHO_FORMS: dict[str, Callable[[str], str]] = {
    "raw": lambda h: h,
    "percent": lambda h: urllib.parse.quote(h, safe=""),
    "percent-lower": lambda h: re.sub(
        "%[0-9A-F]{2}", lambda m: m.group().lower(), urllib.parse.quote(h, safe="")
    ),
    "form": urllib.parse.quote_plus,  # space as +, the token's own + as %2B
    "json-slash": lambda h: json.dumps(h)[1:-1].replace("/", "\\/"),
    "json-u": lambda h: _each(h, lambda c: f"\\u{ord(c):04X}"),
    "json-u-lower": lambda h: _each(h, lambda c: f"\\u{ord(c):04x}"),
    "hex-escape": lambda h: _each(h, lambda c: f"\\x{ord(c):02X}"),
    "html-named": lambda h: _each(h, lambda c: _NAMED.get(c, c)),
    "html-decimal": lambda h: _each(h, lambda c: f"&#{ord(c)};"),
    "html-hex": lambda h: _each(h, lambda c: f"&#x{ord(c):X};"),
    "html-hex-lower": lambda h: _each(h, lambda c: f"&#x{ord(c):x};"),
    "double-percent": lambda h: urllib.parse.quote(urllib.parse.quote(h, safe=""), safe=""),
    "base64-token": lambda h: _b64(_token(h)),
    "base64-token-nopad": lambda h: _b64(_token(h), pad=False),
    "base64url-token": lambda h: _b64(_token(h), url=True),
    "base64url-token-nopad": lambda h: _b64(_token(h), url=True, pad=False),
    "base64-header": _b64,
    "base64-header-nopad": lambda h: _b64(h, pad=False),
    "base64url-header": lambda h: _b64(h, url=True),
    "base64url-header-nopad": lambda h: _b64(h, url=True, pad=False),
    # the token at the third byte alignment: 8 bytes before it
    "base64-shifted": lambda h: _b64("x" + h),
    "base64url-shifted-nopad": lambda h: _b64("x" + h, url=True, pad=False),
}


def echo_text(header: str, form: str = "raw") -> str:
    """A message that quotes ``header`` so that a cut at 100, 200 or 300 characters
    falls inside one of the quotes (a prefix of the secret would survive the cut);
    ``form`` names how the header is quoted (:data:`ECHO_FORMS`)."""
    header = ECHO_FORMS[form](header)
    secret_at = len(header) - len(header.split(" ", 1)[-1])  # past "Bearer "
    text = "Unauthorized: the header you sent was"
    for cut in (100, 200, 300):
        text += "." * max(1, cut - 12 - secret_at - len(text)) + header
    return text + " and it is not valid"


def envelope_body(kind: str) -> bytes | None:
    """The body of an envelope fault (HTTP 200), or None if ``kind`` is not one."""
    found = ENVELOPES.get(kind)
    return None if found is None else orjson.dumps(found)


def http_date(skew: float = 0.0) -> str:
    """The ``Date`` header of a reply, from a clock ``skew`` seconds ahead of ours."""
    return email.utils.formatdate(time.time() + skew, usegmt=True)


def gzip_bomb(prefix: bytes, mib: int) -> bytes:
    """``prefix`` and ``mib`` MiB of spaces, gzip-compressed: one compressed MiB repeated
    (a full flush resets the compressor, so each MiB compresses to the same bytes)."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = b" " * (1 << 20)
    head = deflate.compress(prefix) + deflate.flush(zlib.Z_FULL_FLUSH)
    one = deflate.compress(block) + deflate.flush(zlib.Z_FULL_FLUSH)
    tail = deflate.flush(zlib.Z_FINISH)
    crc = zlib.crc32(prefix)
    for _ in range(mib):
        crc = zlib.crc32(block, crc)
    size = len(prefix) + mib * len(block)
    trailer = struct.pack("<II", crc, size & 0xFFFFFFFF)
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + head + one * mib + tail + trailer
