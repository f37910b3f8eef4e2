"""A user's own data as a :class:`Dataset`: the task, the classes, the splits, the encoding
and the scaling.

``describe_source`` reads the files (see :mod:`resode.data.files`) and decides what they are:
the input kind from the shape of x — (count, d) vectors, (count, c, L) signals,
(count, c, H, W) images — and the task from ``task`` or from y: per-pixel integers
(count, H, W) → segmentation; text, or integers with at most ``MAX_INFERRED_CLASSES``
distinct values → classification; other numbers → regression. ``load_source`` cuts the
splits (the user's fixed ones, else a seeded 70/15/15 split, stratified for classification),
encodes a table's columns as fitted on the training split (:mod:`resode.data.tables`),
standardizes the features with μ, σ of the training split and regression targets likewise.
Problems that make a table unusable are gathered and refused together, each with its fix.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from ..errors import ResodeError
from .dataset import Dataset, cut_splits, fold_splits, stratified_order
from .files import (
    SPLIT_NAMES,
    TABLE_FORMATS,
    Table,
    nearest_name,
    parse_source,
    read_table,
    split_paths,
)
from .standardize import Standardization
from .tables import TableEncoding

MAX_INFERRED_CLASSES = 20
HELD_OUT = 0.15  # share of the examples in each of val and test of a seeded split
KINDS_BY_RANK = {2: "vector", 3: "signal", 4: "image"}


@dataclass(frozen=True)
class UserData:
    """What a data source holds: its tables ({"all"} or {"train", "test"[, "val"]}), task,
    input kind, class names (label order), a one-line ``summary`` of the choice and ``notes``
    on what was left out while reading; ``columns``: how a table's columns are used (the
    target, ``id_column``, ``drop_columns``)."""

    name: str
    tables: dict[str, Table]
    task: str
    kind: str
    class_names: tuple[str, ...]
    summary: str
    notes: tuple[str, ...] = ()
    columns: dict | None = None

    @property
    def is_table(self) -> bool:
        """Whether the examples are rows of a table file (encoded per column)."""
        return next(iter(self.tables.values())).frame is not None

    @property
    def count(self) -> int:
        """The number of examples over all files."""
        return sum(table.count for table in self.tables.values())

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of one raw example: (d,) vectors, (c, L) signals, (C, H, W) images."""
        return tuple(_shape(next(iter(self.tables.values()))))


def _signature(paths: dict[str, Path]) -> tuple:
    """Names, sizes and modification times of every file read, so a changed file is re-read."""
    files = []
    for path in paths.values():
        found = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        files += [(str(p), os.stat(p).st_size, os.stat(p).st_mtime_ns) for p in found]
    return tuple(files)


@lru_cache(maxsize=4)
def _read(form, paths: tuple[tuple[str, str], ...], target, drop_missing, signature) -> dict:
    return {split: read_table(form, Path(path), target, drop_missing) for split, path in paths}


def _all_y(tables: dict[str, Table]) -> np.ndarray:
    return np.concatenate([table.y for table in tables.values()])


def _shape(table: Table) -> tuple:
    return (len(table.features),) if table.x is None else table.x.shape[1:]


def _check_alike(tables: dict[str, Table]) -> None:
    """Every split has the same input shape (and table columns) and target shape."""
    first = next(iter(tables.values()))
    for table in tables.values():
        if table.features != first.features and table.frame is not None:
            raise ResodeError(
                f"{table.origin} does not have the columns of {first.origin}: "
                f"{', '.join(table.features)} vs {', '.join(first.features)}"
            )
        same = _shape(table) == _shape(first) and table.y.shape[1:] == first.y.shape[1:]
        if not same:
            raise ResodeError(
                f"{table.origin} does not match {first.origin}: inputs {_shape(table)} vs "
                f"{_shape(first)}, targets {table.y.shape[1:]} vs {first.y.shape[1:]}"
            )
        if table.count == 0:
            why = f" ({'; '.join(table.notes)})" if table.notes else ""
            raise ResodeError(f"{table.origin} holds no examples{why}: that split would be empty")


def _inferred_task(y: np.ndarray, x_shape: tuple, what: str) -> tuple[str, str]:
    """The task y suggests, and why (for the summary line)."""
    if y.ndim == 3 and len(x_shape) == 4 and y.shape[1:] == x_shape[2:]:
        return "segmentation", f"{what} is a label per pixel"
    if y.ndim == 2:
        return "regression", f"{what} has {y.shape[1]} numbers per example"
    distinct = len(np.unique(y))
    if y.dtype.kind == "U":
        return "classification", f"{what} is text with {distinct} distinct values"
    if y.dtype.kind in "biu" and distinct <= MAX_INFERRED_CLASSES:
        return "classification", f"{what} holds integers with {distinct} distinct values"
    kind = "integers" if y.dtype.kind in "biu" else "floating-point numbers"
    return "regression", f"{what} holds {kind} ({distinct} distinct values)"


def _check_task(task: str, y: np.ndarray, x_shape: tuple, what: str) -> None:
    """Raise if ``task`` cannot be learned from targets ``y``."""
    per_pixel = y.ndim == 3 and len(x_shape) == 4 and y.shape[1:] == x_shape[2:]
    if task == "segmentation" and not per_pixel:
        raise ResodeError(
            f"segmentation needs images x (count, c, H, W) and labels y (count, H, W); "
            f"{what} has shape {y.shape}"
        )
    if task != "segmentation" and y.ndim > 2 - (task == "classification"):
        raise ResodeError(f"{what} of shape {y.shape} does not fit task {task}")
    if task == "regression" and y.dtype.kind == "U":
        raise ResodeError(f"{what} is text: it cannot be a regression target")
    if task != "regression" and y.dtype.kind == "f" and not np.all(y == np.round(y)):
        raise ResodeError(f"{what} holds non-integer numbers: they cannot be class labels")
    if task == "segmentation" and y.min() < 0:
        raise ResodeError(f"{what} holds negative pixel labels; use 0, 1, …")


def _class_names(task: str, y: np.ndarray, what: str) -> tuple[str, ...]:
    """Names in label order: the sorted distinct values (classification), 0 … max (pixels)."""
    if task == "regression":
        return ()
    values = np.arange(int(y.max()) + 1) if task == "segmentation" else np.unique(y)
    names = tuple(str(int(v)) if y.dtype.kind in "biuf" else str(v) for v in values)
    if len(np.unique(y)) < 2:
        raise ResodeError(f"{what} has only one class ({names[0]!r}); at least 2 are needed")
    return names


def _checked(problems: list[str], check, *args):
    """``check(*args)``, with a :class:`ResodeError` added to ``problems`` (None returned)."""
    try:
        return check(*args)
    except ResodeError as error:
        problems.append(str(error))
        return None


def _refuse(name: str, problems: list[str]) -> None:
    """One error listing every problem found (nothing when there is none)."""
    if len(problems) == 1:
        raise ResodeError(problems[0])
    if problems:
        listed = "\n".join(f"  - {problem}" for problem in problems)
        raise ResodeError(f"{name} cannot be used; {len(problems)} problems:\n{listed}")


def _column_problems(tables: dict[str, Table], columns: dict) -> list[str]:
    """Column options that name no column of the table (or the target)."""
    names = next(iter(tables.values())).features
    problems = []
    asked = [("--id-column", columns["id_column"])] if columns["id_column"] else []
    asked += [("--drop-columns", name) for name in columns["drop_columns"] or ()]
    for flag, name in asked:
        if name == columns["target"]:
            problems.append(f"{flag} {name!r} is the target; name a feature column")
        elif name not in names:
            problems.append(
                f"{flag} {name!r} is not a column of the table{nearest_name(name, names)} "
                f"columns: {', '.join(names)}"
            )
    return problems


def describe_source(
    name: str,
    target: str | None = None,
    task: str | None = None,
    id_column: str | None = None,
    drop_missing: bool = False,
    drop_columns: list[str] | None = None,
) -> UserData:
    """Read data source ``name`` (``csv:``/``parquet:``/``npz:``/``folder:`` PATH) and say
    what it is; every problem that makes it unusable is refused in one message."""
    form, path = parse_source(name)
    paths = split_paths(form, path)
    listed = tuple((split, str(p)) for split, p in paths.items())
    if form not in TABLE_FORMATS and (id_column or drop_missing or drop_columns):
        raise ResodeError(
            f"--id-column, --drop-missing and --drop-columns apply to tables, not {form}:PATH"
        )
    tables = _read(form, listed, target, drop_missing, _signature(paths))
    _check_alike(tables)
    columns = {"target": target, "id_column": id_column, "drop_columns": drop_columns}
    problems = _column_problems(tables, columns) if form in TABLE_FORMATS else []
    _checked(problems, _split_sizes, name, tables)
    first = next(iter(tables.values()))
    kind = "vector" if first.x is None else KINDS_BY_RANK[first.x.ndim]
    x_shape = (0, *_shape(first))
    y = _all_y(tables)
    what = f"target {target!r}" if target else "the folder names" if form == "folder" else "y"
    guess, reason = _inferred_task(y, x_shape, what)
    chosen = task or guess
    before = len(problems)
    _checked(problems, _check_task, chosen, y, x_shape, what)
    names = () if len(problems) > before else _checked(problems, _class_names, chosen, y, what)
    _refuse(name, problems)
    how = "as asked by --task" if task else f"since {reason}"
    shown = f" ({', '.join(names[:10])}{', …' if len(names) > 10 else ''})" if names else ""
    if "all" in paths:
        splits = "a seeded 70/15/15 split"
    else:
        splits = (
            "fixed splits " + ", ".join(paths) + ("" if "val" in paths else " (val from train)")
        )
    summary = f"{name}: {kind} data, {chosen}{shown} {how}; {splits}"
    notes = tuple(note for table in tables.values() for note in table.notes)
    return UserData(name, tables, chosen, kind, names, summary, notes, columns)


def _split_sizes(name: str, tables: dict[str, Table]) -> tuple[int, int, int] | None:
    """(train, val, test) counts of the seeded cut: of everything, or val carved from the
    user's train split (test 0: the user's own); None when all three splits are fixed."""
    if "val" in tables:
        return None
    count = tables["all" if "all" in tables else "train"].count
    held = round(HELD_OUT * count)
    if "all" in tables and held and count > 2 * held:
        return count - 2 * held, held, held
    if "all" not in tables and held and count > held:
        return count - held, held, 0
    cut = "a seeded 70/15/15 split" if "all" in tables else "a validation split from train"
    raise ResodeError(
        f"{name} has {count} training examples: {cut} would leave a split empty; give at "
        "least 4 examples, or fixed train/val/test files"
    )


def _order(y: np.ndarray, task: str, rng: np.random.Generator) -> np.ndarray:
    return stratified_order(y, rng) if task == "classification" else rng.permutation(len(y))


def _cut(data: UserData, x: dict, y: dict, seed: int) -> tuple[dict, dict]:
    """{train, val, test} arrays: the user's fixed splits (val carved from train if absent,
    seeded), or one seeded 70/15/15 split of everything."""
    rng = np.random.default_rng(seed)
    sizes = _split_sizes(data.name, data.tables)
    if sizes is None:
        return x, y
    source = "all" if "all" in x else "train"
    order = _order(y[source], data.task, rng)
    splits = cut_splits(x[source][order], y[source][order], sizes)
    cut_x = {s: getattr(splits, f"x_{s}") for s in SPLIT_NAMES}
    cut_y = {s: getattr(splits, f"y_{s}") for s in SPLIT_NAMES}
    if source == "train":
        cut_x["test"], cut_y["test"] = x["test"], y["test"]
    return cut_x, cut_y


def _encode(data: UserData, y: np.ndarray) -> np.ndarray:
    """Targets as the model sees them: label indices, pixel labels, or float (count, k)."""
    if data.task == "regression":
        y = y.astype(np.float64)
        return y[:, None] if y.ndim == 1 else y
    if data.task == "segmentation":
        return y.astype(np.int64)
    values = np.unique(_all_y(data.tables))
    return np.searchsorted(values, y).astype(np.int64)


def _scaling(data: UserData, x_train, y_train, stored: dict | None) -> tuple:
    """The standardization and target scale: fitted on the training split, or ``stored``."""
    if stored is not None:
        then = tuple(stored.get("class_names", ()))
        if then != data.class_names:
            raise ResodeError(
                f"the classes of {data.name} changed since the run was trained: "
                f"{', '.join(then)} then, now {', '.join(data.class_names)}"
            )
        scale = stored.get("target_scale")
        return Standardization.from_dict(stored["standardization"]), scale and tuple(scale)
    if data.task != "regression":
        return Standardization.fit(x_train), None
    return Standardization.fit(x_train), (float(y_train.mean()), float(y_train.std() or 1.0))


def _origin(data: UserData, split: str) -> str:
    """The file a split's rows come from: "all", the split's own, or "train" (val carved)."""
    if "all" in data.tables:
        return "all"
    return split if split in data.tables else "train"


def _table_splits(data: UserData, rows: dict, stored: dict | None) -> tuple:
    """Each split's encoded features x, the encoding (fitted on the training rows, or as
    ``stored``) and each split's row labels (id column, else source row numbers)."""
    frames = {s: data.tables[_origin(data, s)].frame.iloc[rows[s]] for s in SPLIT_NAMES}
    if stored is not None:
        encoding = TableEncoding.stored(stored) or TableEncoding.of_numbers([])
    else:
        columns = data.columns or {}
        dropped = tuple(columns.get("drop_columns") or ())
        encoding = TableEncoding.fit(frames["train"], columns.get("id_column"), dropped)
        if not encoding.features:
            why = ", ".join(f"{c.name} ({c.kind})" for c in encoding.columns)
            raise ResodeError(
                f"{data.name}: no column is left to learn from: {why}; keep a column that "
                "is numbers, dates, true/false or text with few values"
            )
    x = {s: encoding.encode(frames[s])[0] for s in SPLIT_NAMES}
    labels = {}
    for s in SPLIT_NAMES:
        if encoding.id_column is not None:
            labels[s] = np.array([str(v) for v in frames[s][encoding.id_column]])
        else:
            labels[s] = data.tables[_origin(data, s)].rows[rows[s]]
    return x, encoding, {"name": encoding.id_column or "row", **labels}


def _cut_source(data: UserData, seed: int, folds: tuple[int, int] | None = None) -> tuple:
    """{split: x} and {split: y} of the seeded cut (of fold k of K when ``folds`` = (k, K));
    a table's x are row indices into its file's frame (encoded once the training rows are
    known)."""
    x = {
        split: np.arange(table.count) if table.frame is not None else table.x
        for split, table in data.tables.items()
    }
    y = {split: _encode(data, table.y) for split, table in data.tables.items()}
    if folds is None:
        return _cut(data, x, y, seed)
    if "all" not in x:
        raise ResodeError(f"{data.name} has fixed split files: --folds needs one file of all rows")
    stratified = data.task == "classification"
    return fold_splits(x["all"], y["all"], *folds, seed, stratified, HELD_OUT)


def table_encoding(
    name: str, seed: int = 0, folds: tuple[int, int] | None = None, **options
) -> TableEncoding | None:
    """The encoding a run on table ``name`` with ``seed`` fits (None for other sources)."""
    data = describe_source(name, **options)
    if not data.is_table:
        return None
    rows, _ = _cut_source(data, seed, folds)
    return _table_splits(data, rows, None)[1]


def load_source(
    name: str,
    seed: int = 0,
    target: str | None = None,
    task: str | None = None,
    preprocessing: dict | None = None,
    folds: tuple[int, int] | None = None,
    **columns,
) -> Dataset:
    """Data source ``name`` as a Dataset: a table's columns encoded, the features standardized
    with the training split's μ, σ (or as ``preprocessing`` stored in a run records them).
    ``folds`` = (k, K): the splits of fold k of K-fold cross-validation (:func:`.fold_order`);
    ``columns``: ``id_column``, ``drop_missing``, ``drop_columns`` of a table.
    ``Dataset.preprocessing`` records what was applied; ``Dataset.rows`` each example's
    label (a table's id column, or its row number in the file)."""
    data = describe_source(name, target, task, **columns)
    x, y = _cut_source(data, seed, folds)
    encoding, rows = None, None
    if data.is_table:
        x, encoding, rows = _table_splits(data, x, preprocessing)
    scaling, target_scale = _scaling(data, x["train"], y["train"], preprocessing)
    tensors = {}
    for split in SPLIT_NAMES:
        tensors[f"x_{split}"] = torch.from_numpy(scaling.apply(x[split]).astype(np.float32))
        values = y[split]
        if target_scale is not None:
            values = ((values - target_scale[0]) / target_scale[1]).astype(np.float32)
        tensors[f"y_{split}"] = torch.from_numpy(np.ascontiguousarray(values))
    record = {
        "standardization": scaling.to_dict(),
        "target_scale": None if target_scale is None else list(target_scale),
        "class_names": list(data.class_names),
        "features": encoding.features if encoding is not None else [],
    }
    if encoding is not None:
        record |= {"table": encoding.to_dict(), "target": target}
    return Dataset(
        name, data.task, len(data.class_names), kind=data.kind, target_scale=target_scale,
        class_names=data.class_names, preprocessing=record, rows=rows, **tensors,
    )  # fmt: skip
