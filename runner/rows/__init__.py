"""Rows: records -> columns of plain values, what every format reads its cells from.

- :mod:`~runner.rows.columns`: the one column compiler (paths and expressions,
  parsed by :mod:`runner.spec.expressions`, compiled per record or per page).
- :mod:`~runner.rows.build`: a segment's columns, or every known field flattened.
- :mod:`~runner.rows.presets`: the columns ad and e-mail platforms import as they are.
"""
