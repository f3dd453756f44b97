"""Reading users' categorical values from text files (one value per line, or a CSV column)."""

from __future__ import annotations

import csv
from pathlib import Path

from lab.core import DataError

__all__ = ["read_values"]


def read_values(path: str | Path, column: str | None = None) -> list[str]:
    """Read categories as strings.

    Without ``column``: one value per line (surrounding whitespace stripped; a final newline is
    fine, a blank line inside the file is an error). With ``column`` (a header name, or a
    0-based index written as digits): that column of a CSV file with a header row.

    Raises:
        DataError: the file is missing, unreadable, not UTF-8, empty, has a blank value, or
            lacks the column.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"input file {str(p)!r} does not exist")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"input file {str(p)!r} is not UTF-8 text: {exc}") from None
    except OSError as exc:
        raise DataError(f"cannot read input file {str(p)!r}: {exc}") from None
    if column is None:
        lines = text.splitlines()
        while lines and not lines[-1].strip():
            lines.pop()
        values = [ln.strip() for ln in lines]
        blank = [i + 1 for i, v in enumerate(values) if not v]
        if blank:
            raise DataError(
                f"input file {str(p)!r}: line {blank[0]} is blank (one value per line expected)"
            )
    else:
        try:
            rows = list(csv.reader(text.splitlines()))
        except csv.Error as exc:
            raise DataError(f"input file {str(p)!r} is not valid CSV: {exc}") from None
        if not rows:
            raise DataError(f"input file {str(p)!r} is empty")
        header = rows[0]
        if column in header:
            idx = header.index(column)
        elif column.isdigit() and int(column) < len(header):
            idx = int(column)
        else:
            raise DataError(f"input file {str(p)!r} has no column {column!r} (header: {header})")
        values = []
        for line_no, row in enumerate(rows[1:], start=2):
            if not row:
                continue  # csv yields [] only for a completely empty trailing line
            if idx >= len(row):
                raise DataError(
                    f"input file {str(p)!r}: line {line_no} has {len(row)} fields, column {column!r} is field {idx + 1}"
                )
            v = row[idx].strip()
            if not v:
                raise DataError(
                    f"input file {str(p)!r}: line {line_no} has an empty value in column {column!r}"
                )
            values.append(v)
    if not values:
        raise DataError(f"input file {str(p)!r} holds no values")
    return values
