"""Keep the API token out of everything the runner prints or writes.

Servers echo what they were sent: a proxy's error page, a 401 body that quotes
the ``Authorization`` header. Any text that came from the server goes through
:class:`Redactor` before it reaches a message: every piece of the token of
:data:`PIECE` or more characters is masked first, and only then is the text cut
to length, so a cut can never leave a prefix of the token behind.

>>> scrub = Redactor("tok-Zq9-VERY-SECRET")
>>> scrub("bad header 'Bearer tok-Zq9-VERY-SECRET'", 200)
"bad header 'Bearer ***'"
>>> scrub("echo: tok-Zq9-VERY-SEC", 200)  # a piece of it, cut by the server
'echo: ***'
>>> scrub("x" * 30, 10)
'xxxxxxxxx…'
"""

from __future__ import annotations

PIECE = 6  # the shortest piece of the token that is masked
MASK = "***"


class Redactor:
    """Masks a secret, and any piece of it, in text from elsewhere, then cuts it."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        size = min(PIECE, len(secret))
        self._size = size
        self._pieces = (
            frozenset(secret[i : i + size] for i in range(len(secret) - size + 1))
            if secret
            else frozenset()
        )

    def mask(self, text: str) -> str:
        """``text`` with every stretch that is a piece of the secret replaced by ***."""
        size, pieces = self._size, self._pieces
        if not pieces or len(text) < size:
            return text
        hidden = [False] * len(text)
        found = False
        for i in range(len(text) - size + 1):
            if text[i : i + size] in pieces:
                hidden[i : i + size] = [True] * size
                found = True
        if not found:
            return text
        out: list[str] = []
        for i, char in enumerate(text):
            if not hidden[i]:
                out.append(char)
            elif i == 0 or not hidden[i - 1]:
                out.append(MASK)
        return "".join(out)

    def __call__(self, text: str, limit: int) -> str:
        """``text`` on one line, masked, at most ``limit`` characters (… marks a cut)."""
        # Mask before cutting (a cut could split the secret and leave a prefix), looking
        # a secret's length past the limit; then cut, and check the cut text again.
        text = self.mask(" ".join(text.split())[: limit + len(self.secret)])
        if len(text) > limit:
            text = self.mask(text[: limit - 1]) + "…"
        return text


def token_problem(name: str, token: str) -> str | None:
    """Why ``token`` (read from the variable ``name``) cannot be sent, never quoting it."""
    for char in token:
        if ord(char) < 32 or ord(char) == 127:
            return f"{name} contains a control character: set it to the token alone"
    if not token.isascii():
        return f"{name} contains a character that is not ASCII; API tokens are plain ASCII"
    return None
