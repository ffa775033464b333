"""Why a list read by page number is refused: the errors :class:`~runner.fetch.paging.PageNumbers`
raises, each naming what was seen and what to do (nothing is published), and the check
that tells an API that lists ties in another order each time."""

from __future__ import annotations

from typing import Any

from runner.errors import PagingError


def read_before_after_new(records: list[Any], ids: list[Any], kept: list[Any]) -> bool:
    """Whether a page holds a record read on an earlier page after one not read before
    that shares its ``createdAt`` (``kept``: those not read before, in order): ties in
    another order. (A list that moved a page or more between two answers repeats records
    out of turn too, but at their own instants: the end checks see those moves; a record
    twice on this page is dropped, but was not read before the page.)

    >>> a, b, c = ({"_id": n, "createdAt": "t"} for n in "abc")
    >>> read_before_after_new([a, b, c], ["a", "b", "c"], [a, c])  # b read before: a tie
    True
    >>> read_before_after_new([a, b, a], ["a", "b", "a"], [a, b])  # a twice here
    False
    >>> read_before_after_new([a, {"_id": "d", "createdAt": "s"}], ["a", "d"], [a])
    False
    """
    fresh, instants = {id(record) for record in kept}, set()
    start = next(i for i, record in enumerate(records) if id(record) in fresh)
    for i in range(start, len(records)):
        instant = records[i].get("createdAt")
        if id(records[i]) in fresh:
            instants.add(instant)
        elif ids[i] not in ids[start:i] and instant in instants:
            return True
    return False


def deleted_twice(moved: int) -> PagingError:
    return PagingError(
        f"contacts were deleted while the list was read, and again while it was read "
        f"a second time (its last page moved up by {moved:,}): contacts listed below "
        "a deleted one may have been skipped; nothing published (run it again)"
    )


def ignored(number: int) -> PagingError:
    return PagingError(
        f"page {number} returned exactly the records of page {number - 1}: the API seems "
        "to ignore the page number (check api.path and api.base_url)"
    )


def not_paging(first: int, number: int) -> PagingError:
    return PagingError(
        f"pages {first} to {number} hold only records read on earlier pages: the API is "
        "not paging (it ignores or reorders 'page'), or the list grows by a page or more "
        "with every request; nothing published"
    )


def reordered(number: int) -> PagingError:
    """A page with a record read before after one not read before at the same instant:
    contacts put in or deleted only shift the list, so the API listed the same records
    in another order (ties handed round differently on each request, as a sort without
    a tiebreak may): paging by number skips records."""
    return PagingError(
        f"page {number} holds records read on earlier pages after records not read "
        "before: the API does not list its records in the same order on every request "
        "(contacts sharing a createdAt listed differently each time?), and reading it by "
        "page number would skip some; nothing published"
    )


def not_an_id(number: int, id_key: str, ids: list[Any]) -> PagingError:
    """A page where ``api.id_key`` holds an object or a list: contacts are told apart,
    pages compared and moves found by their ids, which must be text or numbers. Records
    are counted from 1, as in the other messages about a page's records.

    >>> print(not_an_id(2, "profile.phone", ["a", {"number": "1"}]))
    page 2: record 2 has an object at 'profile.phone' (api.id_key), not an id: choose a key \
whose value is text or a number (a key inside it, such as 'profile.phone.number')
    >>> print(not_an_id(1, "tags", [["vip"]]))
    page 1: record 1 has an array at 'tags' (api.id_key), not an id: choose a key whose \
value is text or a number
    """
    index, value = next((i, v) for i, v in enumerate(ids, 1) if isinstance(v, dict | list))
    keys = [key for key in value if "." not in key] if isinstance(value, dict) else []
    inside = f" (a key inside it, such as '{id_key}.{keys[0]}')" if keys else ""
    kind = "an object" if isinstance(value, dict) else "an array"
    return PagingError(
        f"page {number}: record {index} has {kind} at '{id_key}' (api.id_key), "
        f"not an id: choose a key whose value is text or a number{inside}"
    )
