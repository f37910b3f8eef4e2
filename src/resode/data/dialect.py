"""How a text table is written: its field separator and decimal mark, read from its first rows.

Tables reach users from many tools. Spreadsheets set to a European locale write semicolons
between fields and decimal commas (``1,5``); statistics programs and old data sets separate
fields by runs of spaces; ``.tsv`` and ``.tab`` files by tabs. The rules, in order:

1. ``.tsv``/``.tab``: tab.
2. Otherwise the first non-empty row, with its quoted names left out, decides: the one of
   comma, tab and semicolon it holds most of (a tie goes to that order).
3. A first row with none of them is split at runs of spaces (a quoted name is one word) when
   the next rows (up to four) then have one same count of two or more fields, and the first
   row that count or one less (R's ``write.table`` leaves the row names' column unnamed);
   otherwise the file has one column.

Semicolon-separated files are read with a decimal comma when that makes more columns numbers
than a decimal point does (:func:`read_text_table`).
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import re
from dataclasses import dataclass
from pathlib import Path

TAB_SUFFIXES = (".tsv", ".tab")
SEPARATORS = {",": "comma", "\t": "tab", ";": "semicolon"}
SPACES = r"\s+"
_OPENERS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
_QUOTED = re.compile(r'"[^"]*"')
_WORDS = re.compile(r'"[^"]*"|\S+')
_SNIFFED = 1 << 16
"""Characters read to find the first rows."""


@dataclass(frozen=True)
class Dialect:
    """``separator`` as pandas takes it (``\\s+``: runs of spaces) and its name."""

    separator: str
    name: str


def _first_rows(path: Path, count: int) -> list[str]:
    """The first ``count`` non-empty rows of a text file (compressed by suffix: gz, bz2, xz)."""
    opener = _OPENERS.get(path.suffix.lower(), open)
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
            text = handle.read(_SNIFFED)
    except (OSError, EOFError, lzma.LZMAError):
        return []  # unreadable here: the table reader says why
    rows = [row for row in text.lstrip("\ufeff").splitlines() if row.strip()]
    return rows[:count]


def text_dialect(path: Path) -> Dialect:
    """The separator of the text table at ``path`` (see the module docstring)."""
    if path.suffix.lower() in TAB_SUFFIXES:
        return Dialect("\t", "tab")
    rows = _first_rows(path, 5)
    if not rows:
        return Dialect(",", "comma")
    header = _QUOTED.sub("", rows[0])
    counts = {separator: header.count(separator) for separator in SEPARATORS}
    most = max(SEPARATORS, key=lambda separator: counts[separator])
    if counts[most]:
        return Dialect(most, SEPARATORS[most])
    first, *data = (len(_WORDS.findall(row)) for row in rows)
    widths = set(data)
    if len(widths) == 1 and (width := widths.pop()) > 1 and first in (width, width - 1):
        return Dialect(SPACES, "spaces")
    return Dialect(",", "comma")


def read_text_table(path: Path, pandas, **options):
    """``path`` read by pandas in its dialect (``options`` go to ``pandas.read_csv``)."""
    dialect = text_dialect(path)
    if dialect.separator == SPACES:
        return pandas.read_csv(path, sep=SPACES, **options)
    options["skipinitialspace"] = True
    frame = pandas.read_csv(path, sep=dialect.separator, **options)
    if dialect.separator != ";":
        return frame
    commas = pandas.read_csv(path, sep=";", decimal=",", **options)
    numeric = [
        sum(pandas.api.types.is_numeric_dtype(kind) for kind in table.dtypes)
        for table in (frame, commas)
    ]
    return commas if numeric[1] > numeric[0] else frame
