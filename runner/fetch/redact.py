"""Keep the API token out of everything the runner prints or writes: THE one redaction.

Servers echo what they were sent, and not always as it was sent: a proxy's error
page, a 401 body that quotes the ``Authorization`` header percent-encoded,
JSON-escaped, as HTML entities, or as base64 of the whole header. Every text that
leaves the process (the progress log and the summary, ``--results``, the run
history, manifests, notifications) goes through one :class:`Redactor`, which masks
the token in any of those forms:

- escapes are decoded before matching, up to three layers deep (``%252B``):
  percent-encoding in either case (``+`` stays ``+``: the token's own ``+`` is sent
  as ``%2B`` by a form encoder, and only the header's space becomes ``+``), JSON and
  JavaScript escapes (``\\/``, ``\\u002B``, ``\\x2b``), HTML entities (``&plus;``,
  ``&#43;``, ``&#x2B;``); a match masks the escaped text it was decoded from;
- base64 and base64url are matched as encoded text, at each of the three
  alignments the token can have inside a longer encoded string: base64 of the
  token alone is alignment 0, of ``Bearer <token>`` alignment 1 (7 bytes before it),
  of ``Authorization: Bearer <token>`` alignment 0 again; only the characters that
  depend on the token alone are matched, so padding and what surrounds it do not
  matter;
- every piece of :data:`PIECE` or more characters of any form is masked before text
  is cut to length, so a cut (the server's or ours) never leaves a long prefix.

>>> scrub = Redactor("tok-Zq9-VERY-SECRET")
>>> scrub("bad header 'Bearer tok-Zq9-VERY-SECRET'", 200)
"bad header 'Bearer ***'"
>>> scrub("echo: tok-Zq9-VERY-SEC", 200)  # a piece of it, cut by the server
'echo: ***'
>>> scrub("sent Bearer%20tok-Zq9-VERY%2dSECRET", 200)
'sent Bearer%20***'
>>> scrub("x" * 30, 10)
'xxxxxxxxx…'
"""

from __future__ import annotations

import base64
import html.entities
import re
from collections.abc import Mapping
from typing import Any, TextIO

PIECE = 6  # the shortest piece of the token (or of one of its encodings) that is masked
MASK = "***"
LAYERS = 3  # escapes decoded this many times over (``%25`` is ``%``)

_ESCAPE = re.compile(
    r"%(?P<pct>[0-9A-Fa-f]{2})"
    r"|\\u(?P<u>[0-9A-Fa-f]{4})"
    r"|\\x(?P<x>[0-9A-Fa-f]{2})"
    r"|\\(?P<lit>[^A-Za-z0-9\s])"
    r"|&#(?P<dec>[0-9]{1,7});?"
    r"|&#[xX](?P<hex>[0-9A-Fa-f]{1,6});?"
    r"|&(?P<name>[A-Za-z][A-Za-z0-9]{1,31};)"
)


def _char(match: re.Match[str]) -> str | None:
    """The one character an escape stands for (None: leave the text as it is)."""
    kind, value = match.lastgroup, match.group(match.lastindex or 0)
    if kind == "lit":
        return value
    if kind == "name":
        named = html.entities.html5.get(value, "")
        return named if len(named) == 1 else None
    code = int(value, 10 if kind == "dec" else 16)
    return chr(code) if code < 0x110000 else None


def unescaped(text: str) -> tuple[str, list[int]]:
    """``text`` with one layer of escapes decoded, and where each character came from:
    character ``i`` of the result was ``text[bounds[i]:bounds[i + 1]]``.

    >>> unescaped("a%2Fb&#43;")
    ('a/b+', [0, 1, 4, 5, 10])
    """
    out: list[str] = []
    bounds: list[int] = []
    at = 0
    for match in _ESCAPE.finditer(text):
        char = _char(match)
        if char is None:
            continue
        out.append(text[at : match.start()])
        bounds.extend(range(at, match.start()))
        out.append(char)
        bounds.append(match.start())
        at = match.end()
    out.append(text[at:])
    bounds.extend(range(at, len(text) + 1))
    return "".join(out), bounds


def base64_cores(secret: bytes) -> set[str]:
    """What base64 and base64url of any text holding ``secret`` must contain, at each of
    the three byte alignments: the encoded characters that depend on ``secret`` alone.

    >>> sorted(base64_cores(b"abcdef"))
    ['FiY2RlZ', 'YWJjZGVm', 'hYmNkZW']
    """
    cores: set[str] = set()
    bits = 8 * len(secret)
    for align in range(3):
        encoded = base64.b64encode(bytes(align) + secret).decode()
        first = -(-8 * align // 6)  # the first character wholly inside the secret's bits
        last = (8 * align + bits) // 6  # one past the last
        core = encoded[first:last]
        if core:
            cores.update({core, core.translate(_URL_SAFE)})
    return cores


_URL_SAFE = str.maketrans("+/", "-_")


class Redactor:
    """Masks a secret, and any piece of it, in any of its forms; then cuts to length."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        forms = {secret, *base64_cores(secret.encode())} if secret else set()
        self._pieces: dict[int, frozenset[str]] = {}
        for form in forms:
            size = min(PIECE, len(form))
            found = {form[i : i + size] for i in range(len(form) - size + 1)}
            self._pieces[size] = self._pieces.get(size, frozenset()) | found
        # how far one occurrence can spread once escaped (&#x0002B; is 9 characters)
        self._reach = 10 * len(secret)

    def mask(self, text: str) -> str:
        """``text`` with every stretch that is (or encodes) a piece of the secret as ***."""
        if not self._pieces or not text:
            return text
        hidden = bytearray(len(text))
        view, bounds = text, list(range(len(text) + 1))
        for layer in range(LAYERS + 1):
            self._mark(view, bounds, hidden)
            if layer == LAYERS:
                break
            decoded, inner = unescaped(view)
            if decoded == view:
                break
            view, bounds = decoded, [bounds[i] for i in inner]
        if not any(hidden):
            return text
        out: list[str] = []
        for i, char in enumerate(text):
            if not hidden[i]:
                out.append(char)
            elif i == 0 or not hidden[i - 1]:
                out.append(MASK)
        return "".join(out)

    def _mark(self, view: str, bounds: list[int], hidden: bytearray) -> None:
        for size, pieces in self._pieces.items():
            for i in range(len(view) - size + 1):
                if view[i : i + size] in pieces:
                    start, end = bounds[i], bounds[i + size]
                    hidden[start:end] = b"\x01" * (end - start)

    def __call__(self, text: str, limit: int) -> str:
        """``text`` on one line, masked, at most ``limit`` characters (… marks a cut)."""
        # Mask before cutting (a cut could split the secret and leave a prefix), looking
        # as far past the limit as an escaped secret reaches; then cut, and mask again.
        text = self.mask(" ".join(text.split())[: limit + self._reach])
        if len(text) > limit:
            text = self.mask(text[: limit - 1]) + "…"
        return text

    def document(self, value: Any) -> Any:
        """A JSON-like value with every string in it (keys too) masked.

        >>> Redactor("s3cr3t-value").document({"error": "no s3cr3t-value", "rows": 3})
        {'error': 'no ***', 'rows': 3}
        """
        if isinstance(value, str):
            return self.mask(value)
        if isinstance(value, Mapping):
            return {self.document(k): self.document(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.document(v) for v in value]
        return value


def token_problem(name: str, token: str) -> str | None:
    """Why ``token`` (read from the variable ``name``) cannot be sent, never quoting it."""
    for char in token:
        if ord(char) < 32 or ord(char) == 127:
            return f"{name} contains a control character: set it to the token alone"
    if not token.isascii():
        return f"{name} contains a character that is not ASCII; API tokens are plain ASCII"
    return None


class MaskedStream:
    """A text stream whose every write goes through ``scrub`` first: what a command
    prints passes the same redaction as what it writes to files."""

    def __init__(self, stream: TextIO, scrub: Redactor) -> None:
        self.stream = stream
        self.scrub = scrub

    def write(self, text: str) -> int:
        return self.stream.write(self.scrub.mask(text))

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()


def redactor_for(name: str, env: Mapping[str, str]) -> Redactor:
    """The redaction of the token in the variable ``name`` (nothing to hide if unset)."""
    return Redactor(env.get(name, "").strip())
