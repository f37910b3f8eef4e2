"""A table's columns as network features: the encoding, fitted on the training rows only.

Each column of a table (a pandas ``DataFrame`` without its target) gets a kind, decided from
the training rows, and enters the network accordingly:

============  ==============================================================================
kind          features
============  ==============================================================================
number        the value; a gap (an empty cell, NA, inf) → the training median, plus a 0/1
              column "name (missing)" when the training rows have gaps
boolean       0/1 (true, yes, 1 …); gaps as for numbers
date          year, and the day of the year as (sin, cos) of 2π·day/365.25; gaps as for
              numbers (each of the three gets the training median)
category      text with at most ``MAX_LEVELS`` distinct values (and at most half the training
              rows): one 0/1 column per level seen in training; a gap is its own level
              "(missing)"; an unseen level → all zeros, counted in a note
identifier    unique text, or named by ``--id-column``, or an unnamed/``id``/``index``
              column of unique integers: kept out, passed through to predictions
text          other text (too many levels): left out, with a note
constant      one value in every training row: left out
dropped       named by ``--drop-columns``: left out
============  ==============================================================================

The encoding is plain JSON (:meth:`TableEncoding.to_dict`), stored in the run's
``config.json``, so evaluation, prediction and resumption apply exactly the same transform.
The features are then standardized like any others (:mod:`.standardize`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

from ..errors import ResodeError

MAX_LEVELS = 30
"""Most distinct values a text column may have to be one-hot encoded."""
MIN_ID_ROWS = 10
"""Fewest rows in which a column of unique text is taken for an identifier."""
MISSING_LEVEL = "(missing)"
TRUE_WORDS = frozenset({"true", "yes", "y", "t", "1"})
FALSE_WORDS = frozenset({"false", "no", "n", "f", "0"})
ID_NAMES = frozenset({"", "id", "index", "row", "row_id", "rowid"})
DATE_LOOK = re.compile(r"^\s*\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}([ T]\d{1,2}:\d{2}(:\d{2})?.*)?\s*$")
"""What a cell of a date column looks like: 2012-01-31, 31/01/2012, 2012-01-31 08:15 …"""
DAYS_PER_YEAR = 365.25
KINDS = ("number", "boolean", "date", "category", "identifier", "text", "constant", "dropped")
LEFT_OUT = ("identifier", "text", "constant", "dropped")


def _pandas():
    import pandas

    return pandas


def is_missing(values) -> np.ndarray:
    """Boolean mask of the gaps of a column (NaN, None, NaT, pandas NA)."""
    return np.asarray(_pandas().isna(values), dtype=bool)


def _as_text(values) -> np.ndarray:
    """The cells as stripped strings (gaps become "")."""
    return np.array(["" if m else str(v).strip() for v, m in zip(values, is_missing(values))])


def _booleans(values) -> np.ndarray | None:
    """1.0/0.0 (NaN for gaps) when every cell is a truth value, else None."""
    pandas = _pandas()
    if pandas.api.types.is_bool_dtype(values.dtype):
        return np.where(is_missing(values), np.nan, values.astype(float))
    if pandas.api.types.is_numeric_dtype(values.dtype):
        return None
    words = np.char.lower(_as_text(values))
    present = words != ""
    known = np.isin(words, list(TRUE_WORDS | FALSE_WORDS))
    if not present.any() or not known[present].all() or len(set(words[present])) != 2:
        return None
    return np.where(present, np.isin(words, list(TRUE_WORDS)).astype(float), np.nan)


def _dates(values) -> np.ndarray | None:
    """(count, 3) year, sin and cos of the day of the year (NaN for gaps) when every cell is a
    date, else None."""
    pandas = _pandas()
    if pandas.api.types.is_datetime64_any_dtype(values.dtype):
        stamps = pandas.to_datetime(values)
    else:
        if pandas.api.types.is_numeric_dtype(values.dtype):
            return None
        text = _as_text(values)
        present = text != ""
        if not present.any() or not all(DATE_LOOK.match(cell) for cell in text[present]):
            return None
        stamps = pandas.to_datetime(pandas.Series(text).where(present), errors="coerce",
                                    format="mixed")  # fmt: skip
        if int(stamps.isna().sum()) != int((~present).sum()):
            return None
    stamps = pandas.Series(stamps).reset_index(drop=True)
    missing = stamps.isna().to_numpy()
    year = stamps.dt.year.to_numpy(dtype=float, na_value=np.nan)
    day = stamps.dt.day_of_year.to_numpy(dtype=float, na_value=np.nan) - 1.0
    angle = 2 * math.pi * day / DAYS_PER_YEAR
    features = np.stack([year, np.sin(angle), np.cos(angle)], axis=1)
    features[missing] = np.nan
    return features


def _numbers(values) -> np.ndarray | None:
    """The cells as float64 (NaN for gaps) for a numeric column, else None."""
    pandas = _pandas()
    if pandas.api.types.is_bool_dtype(values.dtype):
        return None
    if pandas.api.types.is_numeric_dtype(values.dtype):
        numbers = values.to_numpy(dtype=float, na_value=np.nan)
        return np.where(np.isfinite(numbers), numbers, np.nan)
    return None


def _looks_like_identifier(name: str, values, numbers: np.ndarray | None) -> bool:
    """Unique text, or a column of unique integers named like a row number."""
    missing = is_missing(values)
    if missing.any() or len(values) < 2:
        return False
    if numbers is None:
        unique = len(values) >= MIN_ID_ROWS and len(set(_as_text(values))) == len(values)
        return unique and _booleans(values) is None and _dates(values) is None
    unnamed = name.strip().lower() in ID_NAMES or name.startswith("Unnamed:")
    integral = bool(np.all(numbers == np.round(numbers)))
    return unnamed and integral and len(np.unique(numbers)) == len(values)


@dataclass(frozen=True)
class Column:
    """How one column enters the network: its ``kind`` and what was fitted on training rows.

    ``fill``: medians of the column's features (number, boolean, date); ``indicator``: whether
    a "name (missing)" feature follows; ``levels``: the one-hot levels of a category;
    ``note``: why a column is left out.
    """

    name: str
    kind: str
    fill: tuple[float, ...] = ()
    indicator: bool = False
    levels: tuple[str, ...] = ()
    note: str = ""

    @property
    def features(self) -> list[str]:
        """Names of the features the column becomes (none if it is left out)."""
        if self.kind in LEFT_OUT:
            return []
        if self.kind == "category":
            return [f"{self.name}={level}" for level in self.levels]
        names = [self.name]
        if self.kind == "date":
            names = [f"{self.name} (year)", f"{self.name} (day sin)", f"{self.name} (day cos)"]
        return names + ([f"{self.name} (missing)"] if self.indicator else [])

    def how(self) -> str:
        """How the column enters the network, in a few words."""
        if self.kind in LEFT_OUT:
            return self.note
        if self.kind == "category":
            short = [level if len(level) <= 20 else level[:19] + "…" for level in self.levels]
            shown = ", ".join(short[:6]) + (", …" if len(short) > 6 else "")
            return f"{len(self.levels)} one-hot features ({shown})"
        gaps = " + a missing indicator (gaps → training median)" if self.indicator else ""
        base = {
            "number": "1 feature",
            "boolean": "1 feature, 0/1",
            "date": "3 features: year, day of the year as sin and cos",
        }[self.kind]
        return base + gaps

    def encode(self, values) -> tuple[np.ndarray, int]:
        """(count, len(features)) float64 for the cells ``values`` (a pandas Series), and the
        number of cells that could not be read as this kind (a level not seen in training, a
        text cell in a number column): those are treated as gaps (all zeros for a level)."""
        count = len(values)
        if self.kind == "category":
            text = _as_text(values)
            text = np.where(text == "", MISSING_LEVEL, text)
            onehot = text[:, None] == np.array(self.levels, dtype=str)[None, :]
            unseen = int((~onehot.any(axis=1)).sum())
            return onehot.astype(np.float64), unseen
        read = {"number": _numbers, "boolean": _booleans, "date": _dates}[self.kind](values)
        gaps = is_missing(values)
        if read is None:  # a column that changed kind: read cell by cell
            read, gaps = _cellwise(self.kind, values)
        read = read.reshape(count, -1)
        missing = np.isnan(read).any(axis=1)
        unreadable = int((missing & ~gaps).sum())
        filled = np.where(np.isnan(read), np.array(self.fill)[None, :], read)
        if self.indicator:
            filled = np.concatenate([filled, missing[:, None].astype(np.float64)], axis=1)
        return filled, unreadable

    def to_dict(self) -> dict:
        entry = {"name": self.name, "kind": self.kind}
        if self.fill:
            entry["fill"] = list(self.fill)
        if self.indicator:
            entry["indicator"] = True
        if self.levels:
            entry["levels"] = list(self.levels)
        if self.note:
            entry["note"] = self.note
        return entry

    @classmethod
    def from_dict(cls, entry: dict) -> Column:
        if not isinstance(entry, dict) or entry.get("kind") not in KINDS:
            raise ResodeError(f"invalid column entry {entry!r} in a stored table encoding")
        return cls(
            str(entry["name"]), entry["kind"], tuple(map(float, entry.get("fill", ()))),
            bool(entry.get("indicator", False)), tuple(map(str, entry.get("levels", ()))),
            str(entry.get("note", "")),
        )  # fmt: skip


def _cellwise(kind: str, values) -> tuple[np.ndarray, np.ndarray]:
    """Cells read one by one as ``kind`` (NaN where a cell is not one), and the gaps."""
    pandas = _pandas()
    gaps = is_missing(values)
    series = pandas.Series(np.asarray(values, dtype=object)).reset_index(drop=True)
    if kind == "number":
        numbers = pandas.to_numeric(series.where(~gaps), errors="coerce")
        return numbers.to_numpy(dtype=float, na_value=np.nan), gaps
    if kind == "boolean":
        words = np.char.lower(_as_text(series))
        read = np.where(np.isin(words, list(TRUE_WORDS)), 1.0, np.nan)
        return np.where(np.isin(words, list(FALSE_WORDS)), 0.0, read), gaps
    text = pandas.Series(_as_text(series)).where(~gaps)
    stamps = pandas.to_datetime(text, errors="coerce", format="mixed")
    return _dates(stamps.astype("datetime64[ns]")), gaps


def fit_column(name: str, values, identifier: bool = False) -> Column:
    """The :class:`Column` for ``values`` (a pandas Series of the training rows)."""
    count = len(values)
    missing = is_missing(values)
    numbers = _numbers(values)
    if identifier or _looks_like_identifier(name, values, numbers):
        how = "named by --id-column" if identifier else "unique values"
        return Column(name, "identifier", note=f"identifies rows ({how}): passed through")
    for kind, read in (("number", numbers), ("boolean", _booleans(values)),
                       ("date", _dates(values))):  # fmt: skip
        if read is None:
            continue
        read = read.reshape(count, -1)
        gaps = np.isnan(read).any(axis=1)  # empty cells, and inf in a number column
        present = read[~gaps]
        if len(present) == 0 or all(len(np.unique(c)) < 2 for c in present.T) and not gaps.any():
            return Column(name, "constant", note="left out: one value in every training row")
        fill = tuple(float(np.median(c)) if len(c) else 0.0 for c in present.T)
        return Column(name, kind, fill=fill, indicator=bool(gaps.any()))
    text = _as_text(values)
    levels = sorted(set(text[~missing]))
    if missing.any():
        levels.append(MISSING_LEVEL)
    if len(levels) < 2:
        return Column(name, "constant", note="left out: one value in every training row")
    if len(levels) > MAX_LEVELS or len(levels) > max(2, count // 2):
        return Column(
            name, "text", note=f"left out: text with {len(levels)} distinct values in {count} "
            f"training rows (one-hot takes at most {MAX_LEVELS})",
        )  # fmt: skip
    return Column(name, "category", levels=tuple(levels))


@dataclass(frozen=True)
class TableEncoding:
    """Every column's :class:`Column`, in the table's order; ``id_column`` names the column
    passed through to predictions (None: the source row number is used)."""

    columns: tuple[Column, ...]
    id_column: str | None = None
    notes: list[str] = field(default_factory=list, compare=False)

    @classmethod
    def fit(
        cls, frame, id_column: str | None = None, dropped: tuple[str, ...] = ()
    ) -> TableEncoding:
        """The encoding of ``frame`` (the training rows, target removed)."""
        columns = []
        for name in frame.columns:
            if name in dropped:
                columns.append(Column(name, "dropped", note="left out: --drop-columns"))
                continue
            columns.append(fit_column(name, frame[name], identifier=name == id_column))
        found = [c.name for c in columns if c.kind == "identifier"]
        chosen = id_column if id_column is not None else (found[0] if found else None)
        return cls(tuple(columns), chosen)

    @property
    def features(self) -> list[str]:
        """The names of the network's input features, in order."""
        return [name for column in self.columns for name in column.features]

    @property
    def required(self) -> list[str]:
        """The columns a table must have for the network: those that give features."""
        return [c.name for c in self.columns if c.kind not in LEFT_OUT]

    def encode(self, frame) -> tuple[np.ndarray, list[str]]:
        """x (rows, features) float64 for ``frame``, whose columns are matched by name (the
        caller checks that every required column is there), and notes on cells read as gaps."""
        blocks, notes = [], []
        for column in self.columns:
            if column.kind in LEFT_OUT:
                continue
            values, unread = column.encode(frame[column.name])
            blocks.append(values)
            gaps = int(is_missing(frame[column.name]).sum())
            if gaps and not column.indicator and column.kind != "category":
                notes.append(f"column {column.name!r}: {gaps} gap(s) (none in training), "
                             "filled with the training median")  # fmt: skip
            if unread:
                what = "a level not seen in training" if column.kind == "category" else (
                    f"a cell that is not a {column.kind}")  # fmt: skip
                treated = "no level" if column.kind == "category" else "a gap"
                notes.append(f"column {column.name!r}: {unread} row(s) with {what}, read as "
                             f"{treated}")  # fmt: skip
        if not blocks:
            return np.zeros((len(frame), 0)), notes
        return np.concatenate(blocks, axis=1), notes

    def describe(self) -> str:
        """The decisions as a short table: column | kind | how it enters the network."""
        width = max([len("column")] + [len(c.name) for c in self.columns])
        lines = [f"{'column':<{width}}  {'kind':<10}  how it enters the network"]
        for column in self.columns:
            lines.append(f"{column.name:<{width}}  {column.kind:<10}  {column.how()}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"columns": [c.to_dict() for c in self.columns], "id_column": self.id_column}

    @classmethod
    def from_dict(cls, data: dict) -> TableEncoding:
        if not isinstance(data, dict) or not isinstance(data.get("columns"), list):
            raise ResodeError("a stored table encoding must be a JSON object with 'columns'")
        columns = tuple(Column.from_dict(entry) for entry in data["columns"])
        return cls(columns, data.get("id_column"))

    @classmethod
    def stored(cls, preprocessing: dict | None) -> TableEncoding | None:
        """The encoding a run's ``preprocessing`` record holds: its ``table``, or for a run on
        a table of numbers written before encodings, its ``features``; None for other data."""
        preprocessing = preprocessing or {}
        if "table" in preprocessing:
            return cls.from_dict(preprocessing["table"])
        if preprocessing.get("features"):
            return cls.of_numbers(list(preprocessing["features"]))
        return None

    @classmethod
    def of_numbers(cls, names: list[str]) -> TableEncoding:
        """The encoding of a table of numbers without gaps (a run that stored only its feature
        names): each column one feature, as it is."""
        return cls(tuple(Column(name, "number", fill=(0.0,)) for name in names))
