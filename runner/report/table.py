"""Plain-text tables: columns padded to their widest cell, two spaces apart.

>>> print(format_table([["NAME", "ROWS"], ["vip", "1,200"]], right={1}), end="")
NAME   ROWS
vip   1,200
"""

from __future__ import annotations

from collections.abc import Collection, Sequence


def format_table(rows: Sequence[Sequence[str]], right: Collection[int] = ()) -> str:
    """One line per row; the columns whose index is in ``right`` line up on the right."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "".join(
        "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ).rstrip()
        + "\n"
        for r in rows
    )
