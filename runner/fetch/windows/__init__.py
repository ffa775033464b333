"""A long list read as closed ``createdAt`` windows (``api.windows``), one module a part:

- :mod:`~runner.fetch.windows.plan`: instants, window ranges and their sizing, and the
  check that a page is newest first and inside its window.
- :mod:`~runner.fetch.windows.in_order`: the pages of the open windows, passed on in
  the list's own order whatever order the replies come in.
- :mod:`~runner.fetch.windows.open_window`: one window being read, and the pages it
  reads again to see that live data did not move it meanwhile.
- :mod:`~runner.fetch.windows.depth_cost`: whether windows pay for this list, from the
  reply times of its first window (the list's own first pages, by page number).
- :mod:`~runner.fetch.windows.outside`: the contacts no window can see (no ``createdAt``).
- :mod:`~runner.fetch.windows.handover`: what reads the list once windows stop.
- :mod:`~runner.fetch.windows.strategy`: :class:`~runner.fetch.windows.strategy.Windows`,
  the paging strategy that drives them all.
"""
