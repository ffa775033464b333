"""``segments render`` as text: each segment's request, output, saved segments by name
and composition.

>>> item = {"name": "vip", "file": "segments/vip.yaml", "as_of": "2026-11-25T00:00:00.000Z",
...         "url": "https://api.example/inbox/users", "output": "exports/vip.csv",
...         "body": {"page": 1}, "exclude": ["ordered"]}
>>> print(render_text([item]), end="")
# vip (segments/vip.yaml) as of 2026-11-25T00:00:00.000Z
# POST https://api.example/inbox/users
# output: exports/vip.csv
{
  "page": 1
}
# exclude: ordered
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from runner.spec.compose import described_lines


def render_text(items: Iterable[Mapping[str, Any]]) -> str:
    """The items ``render`` builds, for people (``--format json`` prints them as they are)."""
    out: list[str] = []
    for item in items:
        out.append(f"# {item['name']} ({item['file']}) as of {item['as_of']}\n")
        out.append(f"# POST {item['url']}\n# output: {item['output']}\n")
        saved = item.get("saved_segments", [])  # filter.segments' name: items, resolved
        out.extend(f"# name:{s['name']} is {s['id']}\n" for s in saved)
        out.append(json.dumps(item["body"], indent=2, ensure_ascii=False) + "\n")
        out.extend(f"# {line}\n" for line in described_lines(item))
    return "".join(out)
