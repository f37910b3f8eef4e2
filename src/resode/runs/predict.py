"""Applying a trained run to new inputs: a built-in test split, an NPZ file, a CSV file, or
for a run on images an image file (PNG, JPEG) or a folder of them.

Inputs from a file are in the units of the training data: a run trained on a user's own
data or on a standard image set (mnist, cifar10, …) standardizes them as training did. A run
on a table reads a table (CSV, TSV, Parquet) by column names only — a missing or renamed
feature column is refused, naming it; other columns are ignored — and encodes it as training
did (:mod:`resode.data.tables`: gaps, categories, dates). Images are read as pixel / 255 and
converted to the run's inputs where they differ: a colour image for a gray run becomes gray
by luminance L = 0.299 R + 0.587 G + 0.114 B (Pillow's ``convert("L")``), a gray one for a
colour run is repeated thrice, and then an image of another size is resized to the run's
H × W by Pillow's bilinear filter (averaging over the pixels it shrinks); one note says how
many were. The output then names each image's file (its path below the folder) in a
``file`` column.

Classification writes the class name and one probability per class; regression the values
(in the original units when the targets were standardized); segmentation a label image per
input (NPZ array ``labels``). CSV output is one row per input; NPZ holds the arrays.
"""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

import numpy as np
import torch

from ..data.files import IMAGE_SUFFIXES, check_inside, nearest_name, read_frame, read_image
from ..data.standardize import Standardization
from ..data.tables import TableEncoding
from ..errors import ResodeError
from ..model.inference import in_chunks
from ..storage import atomic_write
from ..training.factory import compile_network
from .layout import PREDICTIONS
from .load import load_run

TABLE_SUFFIXES = (".csv", ".tsv", ".tab", ".parquet")


def read_inputs(
    source: str, expected: tuple[int, ...], dataset, say=None
) -> tuple[torch.Tensor, dict]:
    """The inputs of ``source`` — ``test`` (the run's test split), an NPZ file with array
    ``x``, a table file (CSV, TSV, Parquet) — and the columns written beside the predictions
    (row labels, true targets). A run on a table reads a table by column names only;
    ``say(note)`` receives notes on its cells (gaps, unseen categories)."""
    if source == "test":
        return dataset.x_test, _test_columns(dataset)
    path = Path(source)
    if not path.is_file():
        raise ResodeError(f"input {source!r} is neither 'test' nor an existing file or folder")
    suffix = path.suffix.lower()
    if suffix in TABLE_SUFFIXES and table_encoding_of(dataset) is not None:
        return _read_table(path, dataset, say or (lambda note: None))
    if suffix == ".npz":
        x = _read_npz(path)
    elif suffix == ".csv":
        x = _read_csv(path)
    else:
        raise ResodeError(
            f"cannot read {path.name}: use an .npz (array x), a .csv file (a table: also .tsv, "
            ".parquet), or for a run on images PNG/JPEG images"
        )
    if tuple(x.shape[1:]) != tuple(expected):
        shape = ", ".join(["batch", *map(str, expected)])
        raise ResodeError(f"the run expects inputs of shape ({shape}), got {tuple(x.shape)}")
    return _as_model_input(x, dataset), {"row": np.arange(1, len(x) + 1)}


def table_encoding_of(dataset) -> TableEncoding | None:
    """How a run on a table encodes its columns (None: the run was not trained on a table)."""
    return TableEncoding.stored(dataset.preprocessing)


def _read_table(path: Path, dataset, say) -> tuple[torch.Tensor, dict]:
    """A table's rows encoded as in training, its columns matched by name: a missing feature
    column is refused, naming it and the file's nearest name; other columns are ignored."""
    frame = read_frame(path)
    encoding = table_encoding_of(dataset)
    names = list(frame.columns)
    missing = [name for name in encoding.required if name not in names]
    if missing:
        told = ", ".join(f"{name!r}{nearest_name(name, names)}" for name in missing)
        raise ResodeError(
            f"{path} lacks the feature column(s) the run was trained on: {told} "
            f"(its columns: {', '.join(names)})"
        )
    if len(frame) == 0:
        raise ResodeError(f"{path} holds no rows below its header")
    x, notes = encoding.encode(frame)
    for note in notes:
        say(note)
    identifier = encoding.id_column
    columns = (
        {identifier: frame[identifier].astype(str).to_numpy()}
        if identifier in names else {"row": np.arange(1, len(frame) + 1)}
    )  # fmt: skip
    target = (dataset.preprocessing or {}).get("target")
    if target is not None and target in names:
        columns[f"true_{target}"] = frame[target].to_numpy()
    return _as_model_input(x, dataset), columns


def _test_columns(dataset) -> dict:
    """Row labels (a table's id column or row numbers in its file; else the position in the
    test split, from 1) and the true targets of the test split (class names, or values in the
    target's units)."""
    rows = dataset.rows or {}
    name = rows.get("name", "row")
    labels = rows.get("test", np.arange(1, len(dataset.x_test) + 1))
    columns = {name: np.asarray(labels)}
    target = (dataset.preprocessing or {}).get("target") or "target"
    y = dataset.y_test.cpu()
    if dataset.task == "classification":
        names = dataset.class_names or tuple(map(str, range(dataset.num_classes)))
        columns[f"true_{target}"] = np.array(names)[y.numpy()]
    elif dataset.task == "regression":
        y = y.double()
        if dataset.target_scale is not None:
            y = y * dataset.target_scale[1] + dataset.target_scale[0]
        for i in range(y.shape[1]):
            suffix = "" if y.shape[1] == 1 else f"_{i}"
            columns[f"true_{target}{suffix}"] = y[:, i].numpy()
    return columns


def _read_npz(path: Path) -> np.ndarray:
    """Array ``x`` of an NPZ file: numbers (no pickled objects), at least one row."""
    try:
        with np.load(path, allow_pickle=False) as arrays:
            if "x" not in arrays:
                raise ResodeError(f"{path} holds no array 'x' (it has {', '.join(arrays)})")
            x = arrays["x"]
    except ValueError as error:  # object arrays need pickle, which resode never loads
        raise ResodeError(f"cannot read {path}: {error}; store x as numbers") from None
    except (OSError, EOFError) as error:
        raise ResodeError(f"cannot read {path} as an NPZ file: {error}") from None
    if x.dtype.kind not in "biuf":
        raise ResodeError(f"array x of {path} holds {x.dtype} values; it must hold numbers")
    if x.ndim == 0 or len(x) == 0:
        raise ResodeError(f"array x of {path} holds no rows")
    return x


def _as_model_input(x: np.ndarray, dataset) -> torch.Tensor:
    """``x`` standardized as the run's training inputs were (where the run records it), in
    C order: an image read as height × width × colour keeps no other layout, which would send
    it through other kernels and change its answer in the last bits."""
    if dataset.preprocessing is not None:
        x = Standardization.from_dict(dataset.preprocessing["standardization"]).apply(x)
    return torch.as_tensor(np.ascontiguousarray(x), dtype=dataset.x_test.dtype)


def image_files(source: str) -> tuple[Path, list[Path]] | None:
    """(folder, image files) when ``source`` is an image (PNG, JPEG), a folder or
    ``folder:PATH``: the folder's images and those of its subfolders, sorted; else None."""
    folder_form = source.startswith("folder:")
    path = Path(source.removeprefix("folder:")).expanduser()
    if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
        return path.parent, [path]
    if not (folder_form or path.is_dir()):
        return None
    if not path.is_dir():
        raise ResodeError(f"input folder {path} does not exist")
    files = sorted(
        check_inside(path, p) for p in path.rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(path).parts)
    )  # fmt: skip
    if not files:
        raise ResodeError(f"input folder {path} holds no PNG or JPEG images")
    return path, files


def converted_image(image: np.ndarray, expected: tuple[int, ...]) -> np.ndarray:
    """``image`` (c, h, w) of pixel / 255 as the run's (C, H, W): colour (c = 3) to gray by
    Pillow's luminance ``convert("L")`` or gray repeated thrice, then resized bilinearly."""
    from PIL import Image

    channels, height, width = expected
    if image.shape[0] == 1 and channels == 3:
        image = np.repeat(image, 3, axis=0)
    if image.shape == tuple(expected):
        return image
    pixels = np.round(image * 255).astype(np.uint8).transpose(1, 2, 0)
    picture = Image.fromarray(pixels[..., 0] if image.shape[0] == 1 else pixels)
    if image.shape[0] == 3 and channels == 1:
        picture = picture.convert("L")
    if picture.size != (width, height):
        picture = picture.resize((width, height), Image.Resampling.BILINEAR)
    pixels = np.asarray(picture, dtype=np.float64) / 255.0
    return pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)


def _conversion_note(shapes: list[tuple[int, ...]], expected: tuple[int, ...]) -> str | None:
    """One line on the images of ``shapes`` that were resized or changed in colour."""
    resized = sum(shape[1:] != tuple(expected[1:]) for shape in shapes)
    recoloured = sum(shape[0] != expected[0] for shape in shapes)
    parts = []
    if resized:
        parts.append(f"resized {resized} of {len(shapes)} images to {expected[1]}×{expected[2]}")
    if recoloured:
        image = "image" if recoloured == 1 else "images"
        change = f"colour {image} to gray" if expected[0] == 1 else f"gray {image} to colour"
        parts.append(f"converted {recoloured} {change}")
    return "; ".join(parts) or None


def read_images(
    folder: Path, files: list[Path], expected: tuple[int, ...], dataset
) -> tuple[torch.Tensor, list[str]]:
    """Images x (count, C, H, W) standardized as the run's inputs, and their names (paths
    below ``folder``); an image of another size or colour than ``expected`` (C, H, W) is
    converted (:func:`converted_image`), with one note on stderr; a run on other inputs than
    images refuses them."""
    if dataset.kind != "image":
        shape = ", ".join(["batch", *map(str, expected)])
        raise ResodeError(
            f"image inputs apply to runs on images; this run expects {dataset.kind} inputs of "
            f"shape ({shape})"
        )
    if expected[0] not in (1, 3):
        raise ResodeError(
            f"this run expects images of {expected[0]} channels; PNG and JPEG images give 1 "
            "(gray) or 3 (colour): give its inputs as an NPZ file (array x)"
        )
    raw = [read_image(file) for file in files]
    note = _conversion_note([image.shape for image in raw], expected)
    if note is not None:
        print(f"resode: {note}", file=sys.stderr)
    images = np.stack([converted_image(image, tuple(expected)) for image in raw])
    names = [file.relative_to(folder).as_posix() for file in files]
    return _as_model_input(images, dataset), names


def _read_csv(path: Path) -> np.ndarray:
    """Rows of numbers, read by position, for a run whose inputs have no column names (a
    built-in set, an NPZ); a first row that is not numbers is a header and skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as error:
        raise ResodeError(f"cannot read {path} as text: {error}") from None
    lines = [line for line in lines if line.strip()]
    if lines:
        try:
            [float(cell) for cell in lines[0].split(",")]
        except ValueError:
            lines = lines[1:]
    if not lines:
        raise ResodeError(f"{path} holds no rows")
    try:
        x = np.loadtxt(lines, delimiter=",", ndmin=2)
    except ValueError as error:
        raise ResodeError(f"cannot read {path} as numbers: {error}") from None
    if not np.isfinite(x).all():
        raise ResodeError(f"{path} holds gaps or non-finite numbers; this run needs numbers")
    return x


@torch.no_grad()
def predict_run(
    run,
    source: str,
    out=None,
    steps: int | None = None,
    chunk: int = 1024,
    compile: bool = False,
    data_dir=None,
    say=None,
) -> Path:
    """Predictions of ``run`` (at ``steps`` steps, default as trained) for ``source``; written
    to ``out`` (.csv or .npz; default RUN/predictions.csv, .npz for segmentation). With
    ``compile`` the network runs through ``torch.compile``; ``data_dir``: where a standard
    set's files lie now (see :func:`~resode.runs.load.load_run`); ``say(note)`` receives the
    notes on the inputs (gaps, unseen categories).

    Beside each prediction go the input's label — an image's file name, a table's id column
    or its row number (from 1) — and, where the input holds it, the true target."""
    images = image_files(source) if source != "test" else None
    model, dataset = load_run(run, data_dir=data_dir)
    path = _output_path(run, out, dataset.task)
    if steps is not None:
        model.steps = steps
    network = compile_network(model) if compile else model
    if images is not None:
        x, names = read_images(*images, dataset.input_shape, dataset)
        beside = {"file": np.array(names)}
    else:
        x, beside = read_inputs(source, dataset.input_shape, dataset, say)
    y = in_chunks(network, x, chunk)
    columns = _columns(dataset, y)
    if dataset.task != "segmentation":
        columns = {**beside, **columns}
    if path.suffix == ".npz":
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **columns)
        atomic_write(path, lambda f: f.write(buffer.getvalue()), binary=True)
    else:
        _write_csv(path, columns)
    return path


def _output_path(run, out, task: str) -> Path:
    """Where predictions go: ``out`` (.csv or .npz; .npz for segmentation), default
    RUN/predictions.csv (.npz)."""
    if out is None:
        return Path(run) / PREDICTIONS["npz" if task == "segmentation" else "csv"]
    path = Path(out)
    if path.suffix not in (".csv", ".npz"):
        raise ResodeError(f"--out {path}: predictions are written to a .csv or a .npz file")
    if path.suffix == ".csv" and task == "segmentation":
        raise ResodeError("segmentation predictions are label images: write them to a .npz file")
    if path.is_dir():
        raise ResodeError(f"--out {path} is a folder; name a .csv or .npz file")
    return path


def _columns(dataset, y: torch.Tensor) -> dict[str, np.ndarray]:
    if dataset.task == "segmentation":
        return {"labels": y.argmax(dim=1).numpy(), "probabilities": y.softmax(dim=1).numpy()}
    if dataset.task == "classification":
        names = dataset.class_names or tuple(map(str, range(dataset.num_classes)))
        probabilities = y.softmax(dim=1).numpy()
        columns = {"class": np.array(names)[probabilities.argmax(axis=1)]}
        return columns | {f"p_{n}": probabilities[:, i] for i, n in enumerate(names)}
    if dataset.target_scale is not None:
        mean, std = dataset.target_scale
        y = y * std + mean
    return {f"value_{i}": y[:, i].numpy() for i in range(y.shape[1])}


def _write_csv(path: Path, columns: dict[str, np.ndarray]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    writer.writerows(zip(*columns.values()))
    atomic_write(path, lambda f: f.write(buffer.getvalue()))
