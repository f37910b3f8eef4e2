"""Readers of a user's own data: ``csv:PATH``, ``npz:PATH`` and ``folder:PATH``.

Each reader returns a :class:`Table` of raw arrays — features x as float64 and targets y as
they were stored (numbers or text) — and checks what it can see on its own: the file exists,
the column is known, every feature is a finite number, every image has the same size.
Fixed splits are found next to the named path: ``data_train.csv``, ``data_val.csv`` and
``data_test.csv`` for ``csv:data.csv`` (the same for NPZ), or subfolders ``train/``, ``val/``
and ``test/`` of an image folder (the validation split may be left out).
"""

from __future__ import annotations

import csv
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ResodeError

FORMATS = ("csv", "npz", "folder")
SPLIT_NAMES = ("train", "val", "test")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
GRAY_MODES = ("1", "L", "LA", "I", "I;16", "F")


@dataclass(frozen=True)
class Table:
    """Raw examples of one file: x (count, …) float64, y (count, …) numbers or text.

    ``features`` names the columns of x (CSV only); ``origin`` says where the data came from.
    """

    x: np.ndarray
    y: np.ndarray
    origin: str
    features: tuple[str, ...] = ()


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


def _number(text: str) -> float:
    text = text.strip()
    return float("nan") if text == "" else float(text)


def _parse_column(rows: list[list[str]], index: int, name: str, origin: str) -> np.ndarray:
    """Column ``index`` as float64; a cell that is not a number is an error naming it."""
    values = np.empty(len(rows))
    for row_number, row in enumerate(rows):
        try:
            values[row_number] = _number(row[index])
        except ValueError:
            raise ResodeError(
                f"{origin}: feature column {name!r} is not numeric (row {row_number + 2}: "
                f"{row[index]!r}); remove the column or make it the --target"
            ) from None
    return values


def _target_column(rows: list[list[str]], index: int) -> np.ndarray:
    """The target column: int64 if every cell is an integer, float64 if a number, else text."""
    cells = [row[index].strip() for row in rows]
    for kind in (int, float):
        try:
            return np.array([kind(cell) for cell in cells])
        except ValueError:
            continue
    return np.array(cells, dtype=str)


def _csv_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    try:
        with open(path, newline="") as handle:
            rows = [row for row in csv.reader(handle) if row]
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise ResodeError(f"cannot read {path}: {error}") from None
    if len(rows) < 2:
        raise ResodeError(f"{path} has no data rows below a header: that split would be empty")
    header = [name.strip() for name in rows[0]]
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise ResodeError(
                f"{path}: row {number} has {len(row)} fields, the header {len(header)}"
            )
    return header, rows[1:]


def read_csv(path: Path, target: str | None) -> Table:
    """A CSV file with a header row: column ``target`` is y, every other column a feature."""
    header, rows = _csv_rows(path)
    if target is None:
        raise ResodeError(f"--data csv:PATH needs --target COLUMN; columns: {', '.join(header)}")
    if target not in header:
        raise ResodeError(f"{path} has no column {target!r}; columns: {', '.join(header)}")
    index = header.index(target)
    features = [name for i, name in enumerate(header) if i != index]
    if not features:
        raise ResodeError(f"{path} has no feature column besides the target {target!r}")
    columns = [i for i in range(len(header)) if i != index]
    x = np.stack([_parse_column(rows, i, header[i], str(path)) for i in columns], axis=1)
    check_finite(x, str(path), lambda at: f"row {at[0] + 2}, column {features[at[1]]!r}")
    y = _target_column(rows, index)
    if y.dtype.kind == "f":
        check_finite(y, f"{path} column {target!r}", lambda at: f"row {at[0] + 2}")
    return Table(x, y, str(path), tuple(features))


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


def read_table(form: str, path: Path, target: str | None) -> Table:
    """The reader of ``form`` applied to ``path``."""
    if form == "csv":
        return read_csv(path, target)
    if form == "npz":
        return read_npz(path)
    return read_folder(path)
