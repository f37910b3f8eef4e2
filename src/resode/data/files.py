"""Readers of a user's own data: ``csv:PATH`` (also TSV), ``parquet:PATH``, ``npz:PATH`` and
``folder:PATH``.

Each reader returns a :class:`Table` of raw examples — features x as float64 (a table file:
its columns as a pandas DataFrame, encoded later by :mod:`.tables`) and targets y as they were
stored (numbers or text) — and checks what it can see on its own: the file exists, the column
is known, every image has the same size.
Fixed splits are found next to the named path: ``data_train.csv``, ``data_val.csv`` and
``data_test.csv`` for ``csv:data.csv`` (the same for NPZ), or subfolders ``train/``, ``val/``
and ``test/`` of an image folder (the validation split may be left out).
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from lzma import LZMAError
from pathlib import Path

import numpy as np

from ..errors import ResodeError
from .dialect import read_text_table

FORMATS = ("csv", "parquet", "npz", "folder")
TABLE_FORMATS = ("csv", "parquet")
ROW_NAMES = "Unnamed: 0"
"""The name of a text table's unnamed first column (pandas' name: an identifier, left out)."""
SPLIT_NAMES = ("train", "val", "test")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
GRAY_MODES = ("1", "L", "LA", "I", "I;16", "F")


@dataclass(frozen=True)
class Table:
    """Raw examples of one file: x (count, …) float64, y (count, …) numbers or text.

    A table file (CSV, TSV, Parquet) has no x yet but its feature columns as a DataFrame
    ``frame`` (named by ``features``), encoded once the training rows are known
    (:mod:`.tables`), and ``rows``, each example's row number in the file. ``origin`` says
    where the data came from; ``notes`` what was left out while reading.
    """

    x: np.ndarray | None
    y: np.ndarray
    origin: str
    features: tuple[str, ...] = ()
    frame: object = None
    rows: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        """The number of examples."""
        return len(self.y)


def parse_source(name: str) -> tuple[str, Path] | None:
    """("csv" | "npz" | "folder", PATH) for ``FORMAT:PATH``; None for a built-in name."""
    form, colon, path = name.partition(":")
    if not colon or form not in FORMATS:
        return None
    if not path:
        raise ResodeError(f"--data {form}:PATH needs a path, e.g. {form}:mydata")
    return form, Path(path).expanduser()


def absolute_source(name: str) -> str:
    """``FORMAT:PATH`` with PATH made absolute (a run then finds its data from anywhere)."""
    source = parse_source(name)
    return name if source is None else f"{source[0]}:{source[1].resolve()}"


def source_label(name: str) -> str:
    """A short name of a data source for run-directory names: the file or folder's stem."""
    source = parse_source(name)
    return name if source is None else source[1].stem or source[0]


def split_paths(form: str, path: Path) -> dict[str, Path]:
    """The files (folders) holding the data: {"train", "test"[, "val"]} when fixed splits
    exist next to ``path``, else {"all": path}; a missing file is an error."""
    if form == "folder":
        fixed = {s: path / s for s in SPLIT_NAMES if (path / s).is_dir()}
    else:
        fixed = {s: path.with_name(f"{path.stem}_{s}{path.suffix}") for s in SPLIT_NAMES}
        fixed = {s: p for s, p in fixed.items() if p.is_file()}
    if fixed:
        missing = [s for s in ("train", "test") if s not in fixed]
        if missing:
            where = ", ".join(str(fixed[s]) for s in fixed)
            raise ResodeError(f"found the fixed split {where} but no {' or '.join(missing)} split")
        return fixed
    if form == "folder" and path.is_file():
        raise ResodeError(f"{path} is a file; folder:PATH names a folder of class subfolders")
    if form != "folder" and path.is_dir():
        raise ResodeError(
            f"{path} is a folder; {form}:PATH names a {form.upper()} file (a folder of images "
            "per class is folder:PATH)"
        )
    exists = path.is_dir() if form == "folder" else path.is_file()
    if not exists:
        kind = "folder" if form == "folder" else "file"
        raise ResodeError(f"{kind} {path} does not exist (nor do fixed splits next to it)")
    return {"all": path}


def check_finite(values: np.ndarray, what: str, where=None) -> None:
    """Raise naming how many values of ``values`` are NaN or inf and where the first one is."""
    bad = ~np.isfinite(values)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        place = where(first) if where is not None else f"index {first}"
        raise ResodeError(
            f"{what} holds {int(bad.sum())} missing or non-finite value(s) (NaN/inf), "
            f"the first at {place}"
        )


def _pandas():
    import pandas

    return pandas


def read_frame(path: Path, parquet: bool | None = None) -> object:
    """A text table (its separator and decimal mark found by :mod:`.dialect`: comma, tab,
    semicolon or spaces) or Parquet file as a pandas DataFrame, types inferred per column;
    empty cells, ``NA``, ``NaN``, ``null`` and ``?`` are gaps. ``parquet``: whether the file
    is Parquet (``parquet:PATH``), None: by its suffix. A text table's first row must name
    its columns."""
    pandas = _pandas()
    try:
        if path.suffix.lower() == ".parquet" if parquet is None else parquet:
            try:
                frame = pandas.read_parquet(path)
            except ImportError:
                raise ResodeError(
                    "reading Parquet needs pyarrow: pip install 'resode[tables]'"
                ) from None
        else:
            frame = _checked_header(path, read_text_table(path, pandas, na_values=["?"]), pandas)
    except ResodeError:
        raise
    except pandas.errors.EmptyDataError:
        raise ResodeError(f"{path} is empty: it needs a header row and data rows") from None
    except (OSError, EOFError, LZMAError, ValueError, pandas.errors.ParserError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        uneven = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", first)
        if uneven:
            named, line, saw = uneven.groups()
            raise ResodeError(
                f"{path}: line {line} has {saw} fields but the first row has {named}; a table "
                f"starts with its header row (remove any lines of notes above it) and every "
                f"row has as many fields"
            ) from None
        raise ResodeError(f"cannot read {path} as a table: {first}") from None
    frame.columns = [str(name).strip() for name in frame.columns]
    duplicated = sorted({n for n in frame.columns if list(frame.columns).count(n) > 1})
    if duplicated:
        raise ResodeError(f"{path} has two columns named {', '.join(map(repr, duplicated))}")
    return frame


def _checked_header(path: Path, frame, pandas):
    """The frame with the first row's names, checked: that row must name every field of the
    data rows. One field more in every data row is R's row names (``write.table``): they
    become the unnamed first column. With more, pandas would take the leading fields as an
    index and keep only the last ones as columns: most of the table lost without a word.
    Names in single quotes lose them; a first row of numbers only is data, not a header."""
    names = [str(name).strip() for name in frame.columns]
    names = [n[1:-1] if len(n) > 1 and n[0] == n[-1] == "'" else n for n in names]
    shown = f"it reads {', '.join(names[:6])}{' …' if len(names) > 6 else ''}"
    if not isinstance(frame.index, pandas.RangeIndex):
        named, extra = len(names), frame.index.nlevels
        if extra > 1:
            raise ResodeError(
                f"{path}: the first row names {named} column(s) but the data rows have "
                f"{named + extra} fields; the first row must be a header that names every "
                f"column ({shown})"
            )
        frame = frame.reset_index(names=ROW_NAMES if ROW_NAMES not in names else None)
        names = [str(frame.columns[0]), *names]
    if len(names) > 1 and all(_is_number(name) for name in names):
        raise ResodeError(
            f"{path}: the first row is all numbers, so the file has no header row and that "
            f"row would be lost; add a first row that names the columns ({shown})"
        )
    frame.columns = names
    return frame


def _is_number(text: str) -> bool:
    """Whether a header name reads as a number (pandas adds .1, .2 … to repeated names)."""
    try:
        float(re.sub(r"(\.\d+)\.\d+$", r"\1", text))
    except ValueError:
        return False
    return True


def nearest_name(name: str, names) -> str:
    """\"; did you mean 'X'?\" for the name in ``names`` closest to ``name``, or ""."""
    import difflib

    lowered = {n.lower(): n for n in names}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
    return f"; did you mean {lowered[close[0]]!r}?" if close else ""


def _target_values(values, had_gaps: bool) -> np.ndarray:
    """The target column: int64 if every cell is an integer, float64 if a number (an integer
    column that held gaps included), else text."""
    pandas = _pandas()
    if pandas.api.types.is_bool_dtype(values.dtype):
        return np.array([str(v) for v in values], dtype=str)
    if pandas.api.types.is_numeric_dtype(values.dtype):
        numbers = values.to_numpy(dtype=float)
        if pandas.api.types.is_integer_dtype(values.dtype) or had_gaps:
            if np.all(numbers == np.round(numbers)):
                return numbers.astype(np.int64)
        return numbers
    return np.array([str(v).strip() for v in values], dtype=str)


def read_csv(
    path: Path, target: str | None, drop_missing: bool = False, parquet: bool = False
) -> Table:
    """A table file with a header row (CSV, TSV, Parquet): column ``target`` is y, the other
    columns stay a DataFrame (``Table.frame``) to be encoded by :mod:`.tables`. Rows whose
    target is a gap are left out (and with ``drop_missing`` rows with any gap), noted in
    ``Table.notes``; ``Table.rows`` keeps the source row number (1 = first data row)."""
    frame = read_frame(path, parquet)
    columns = list(frame.columns)
    if target is None:
        raise ResodeError(f"--data csv:PATH needs --target COLUMN; columns: {', '.join(columns)}")
    if target not in columns:
        raise ResodeError(
            f"{path} has no column {target!r}{nearest_name(target, columns)} columns: "
            f"{', '.join(columns)}"
        )
    if len(columns) < 2:
        raise ResodeError(f"{path} has no feature column besides the target {target!r}")
    rows = np.arange(1, len(frame) + 1)
    keep = ~frame[target].isna().to_numpy()
    notes = []
    if not keep.all():
        notes.append(f"{path.name}: left out {int((~keep).sum())} row(s) without a target")
    if drop_missing:
        complete = ~frame.isna().any(axis=1).to_numpy()
        dropped = int((keep & ~complete).sum())
        keep &= complete
        if dropped:
            notes.append(f"{path.name}: --drop-missing left out {dropped} row(s) with gaps")
    y = _target_values(frame[target][keep], had_gaps=not keep.all())
    features = frame.drop(columns=[target])[keep].reset_index(drop=True)
    return Table(None, y, str(path), tuple(features.columns), features, rows[keep], notes)


def read_npz(path: Path) -> Table:
    """An NPZ file with arrays ``x`` (count, …) of numbers and ``y`` (count, …)."""
    try:
        with np.load(path, allow_pickle=False) as arrays:
            missing = [key for key in ("x", "y") if key not in arrays]
            if missing:
                held = ", ".join(arrays.files) or "nothing"
                raise ResodeError(f"{path} needs arrays 'x' and 'y'; it holds {held}")
            x, y = arrays["x"], arrays["y"]
    except ResodeError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise ResodeError(f"cannot read {path} as NPZ: {error}") from None
    if x.dtype.kind not in "biuf" or y.dtype.kind not in "biufU":
        raise ResodeError(
            f"{path}: x must hold numbers, y numbers or text; got {x.dtype}, {y.dtype}"
        )
    if x.ndim < 2 or x.ndim > 4 or len(x) != len(y):
        raise ResodeError(
            f"{path}: x must be (count, features), (count, channels, length) or "
            f"(count, channels, height, width) with one y per example; got x {x.shape}, y {y.shape}"
        )
    x = x.astype(np.float64)
    check_finite(x, f"{path} array x")
    if y.dtype.kind == "f":
        check_finite(y, f"{path} array y")
    return Table(x, y, str(path))


def read_image(path: Path) -> np.ndarray:
    """One image as (channels, height, width) in [0, 1]: 1 channel if gray, else 3 (RGB)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            gray = image.mode in GRAY_MODES
            pixels = np.asarray(image.convert("L" if gray else "RGB"), dtype=np.float64)
    except (OSError, UnidentifiedImageError) as error:
        raise ResodeError(f"cannot read image {path}: {error}") from None
    pixels = pixels / 255.0
    return pixels[None] if gray else pixels.transpose(2, 0, 1)


def check_inside(root: Path, path: Path) -> Path:
    """``path``, if it lies inside folder ``root`` once links are followed (one line if a link
    leads out of it: resode reads only what is inside the folder it was given)."""
    if not path.resolve().is_relative_to(root.resolve()):
        raise ResodeError(
            f"{path} is a link to {path.resolve()}, outside {root}: resode reads only files "
            "inside the folder it is given; copy the file in or remove the link"
        )
    return path


def _image_files(folder: Path, root: Path) -> list[Path]:
    files = [
        check_inside(root, p)
        for p in sorted(folder.iterdir())
        if p.suffix.lower() in IMAGE_SUFFIXES
    ]
    if not files:
        raise ResodeError(f"class folder {folder} holds no PNG or JPEG images")
    return files


def read_folder(path: Path) -> Table:
    """One subfolder per class of PNG/JPEG images, all of one size; y is the folder name.

    Gray images give 1 channel, colour 3; a mix is read as colour (gray repeated thrice).
    """
    classes = sorted(
        check_inside(path, p) for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")
    )
    if not classes:
        raise ResodeError(f"{path} holds no class subfolders (one folder of images per class)")
    images, labels, first = [], [], None
    for folder in classes:
        for file in _image_files(folder, path):
            image = read_image(file)
            if first is None:
                first = (file, image.shape[1:])
            if image.shape[1:] != first[1]:
                size, other = "×".join(map(str, image.shape[1:])), "×".join(map(str, first[1]))
                raise ResodeError(
                    f"mixed image sizes: {file} is {size}, {first[0]} is {other}; "
                    "resize them to one size"
                )
            images.append(image)
            labels.append(folder.name)
    channels = max(image.shape[0] for image in images)
    x = np.stack([np.repeat(image, channels // image.shape[0], axis=0) for image in images])
    return Table(x, np.array(labels, dtype=str), str(path))


def read_table(form: str, path: Path, target: str | None, drop_missing: bool = False) -> Table:
    """The reader of ``form`` applied to ``path``."""
    if form in TABLE_FORMATS:
        return read_csv(path, target, drop_missing, parquet=form == "parquet")
    if form == "npz":
        return read_npz(path)
    return read_folder(path)
