"""The starting settings of a user's own data, measured: the plain defaults of ``resode train``
against the settings chosen from the data's kind and size (``src/resode/training/recipes/
auto-*.toml``).

The data are written here from sources outside resode, as a user would bring them:

    wine            CSV, 178 rows, 13 features, 3 classes       (scikit-learn's wine)
    breast-cancer   CSV, 569 rows, 30 features, 2 classes       (scikit-learn's breast cancer)
    large-table     CSV, 20000 rows, 20 features, 4 classes     (scikit-learn's make_classification)
    digits-28       folder, 200 gray PNGs of 28×28, 10 classes  (scikit-learn's 8×8 digits,
                    20 per class, upscaled bilinearly with Pillow)
    digits-48       folder, 1000 gray PNGs of 48×48, 10 classes (100 per class, likewise)
    signals         NPZ, 4000 signals (1, 40), 10 classes       (the mnist1d package)

Each entry trains once with ``before`` (TrainConfig's defaults, as before this choice) and once
with ``after`` (``compose_config``: the automatic settings), seed 0, on the CPU, and prints the
test metric, the wall-clock seconds (data loading included) and the CPU seconds of all threads
(less sensitive to other work on the machine). ``--set KEY=VALUE`` changes a
setting of the ``after`` runs (to compare candidates); ``--epochs-before N`` shortens the
``before`` runs and scales their time to the default epochs (said in the output).

    python benchmarks/auto_settings.py [NAME ...] [--only before|after] [--set KEY=VALUE ...]
                                       [--epochs-before N] [--data-dir DIR] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from resode.data.sources import describe_source
from resode.runs.load import HEADLINE
from resode.training.config import TrainConfig
from resode.training.loop import train
from resode.training.recipes import compose_config


def _table(path: Path, frame) -> str:
    frame.to_csv(path, index=False)
    return f"csv:{path}"


def wine(folder: Path) -> dict:
    from sklearn.datasets import load_wine

    return {"data": _table(folder / "wine.csv", load_wine(as_frame=True).frame), "target": "target"}


def breast_cancer(folder: Path) -> dict:
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    return {"data": _table(folder / "breast-cancer.csv", frame), "target": "target"}


def large_table(folder: Path) -> dict:
    import pandas as pd
    from sklearn.datasets import make_classification

    x, y = make_classification(
        n_samples=20000, n_features=20, n_informative=10, n_classes=4, random_state=0
    )
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(20)]).assign(target=y)
    return {"data": _table(folder / "large-table.csv", frame), "target": "target"}


def digit_images(folder: Path, per_class: int, side: int, seed: int = 0) -> Path:
    """``per_class`` of scikit-learn's 8×8 digits per class (seeded choice), upscaled to
    side × side bilinearly, as gray PNGs in ``folder/<digit>/``."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(seed)
    for label in range(10):
        (folder / str(label)).mkdir(parents=True, exist_ok=True)
        chosen = rng.choice(np.flatnonzero(digits.target == label), per_class, replace=False)
        for index in chosen:
            pixels = (digits.images[index] * (255 / 16)).round().astype(np.uint8)
            image = Image.fromarray(pixels, mode="L").resize((side, side), Image.BILINEAR)
            image.save(folder / str(label) / f"{index}.png")
    return folder


def digits_28(folder: Path) -> dict:
    return {"data": f"folder:{digit_images(folder / 'digits-28', 20, 28)}"}


def digits_48(folder: Path) -> dict:
    return {"data": f"folder:{digit_images(folder / 'digits-48', 100, 48)}"}


def signals(folder: Path) -> dict:
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples, args.seed = 4000, 0
    made = make_dataset(args)
    x = np.concatenate([made["x"], made["x_test"]])[:, None, :]
    y = np.concatenate([made["y"], made["y_test"]])
    np.savez(folder / "signals.npz", x=x.astype(np.float32), y=y)
    return {"data": f"npz:{folder / 'signals.npz'}"}


ENTRIES = {
    "wine": wine,
    "breast-cancer": breast_cancer,
    "large-table": large_table,
    "digits-28": digits_28,
    "digits-48": digits_48,
    "signals": signals,
}


def _value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def run(config: TrainConfig) -> tuple[dict, float, float]:
    """The run's metrics, wall-clock and CPU seconds (all threads of this process)."""
    with tempfile.TemporaryDirectory() as out:
        started, cpu = time.perf_counter(), time.process_time()
        metrics = train(config, out, progress=False)
        return metrics, time.perf_counter() - started, time.process_time() - cpu


def measure(name: str, source: dict, which: str, changes: dict, epochs_before) -> dict:
    if which == "before":
        config = TrainConfig(**source, device="cpu")
        if epochs_before is not None:
            config.epochs = epochs_before
    else:
        config = compose_config({**source, **changes, "device": "cpu"})
    metric = "test_" + HEADLINE[describe_source(source["data"], source.get("target")).task]
    metrics, seconds, cpu = run(config)
    row = {"name": name, "which": which, "metric": metric, "value": metrics[metric]}
    row.update(seconds=seconds, cpu_seconds=cpu, config=config.to_dict())
    if which == "before" and epochs_before is not None:
        row["scaled_seconds"] = seconds * TrainConfig().epochs / epochs_before
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"entries (default: all): {', '.join(ENTRIES)}")
    parser.add_argument("--only", choices=("before", "after"))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--epochs-before", type=int)
    parser.add_argument("--data-dir", type=Path, help="where to write the data (default: temp)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args()
    changes = {key: _value(value) for key, _, value in (s.partition("=") for s in args.set)}
    rows = []
    with tempfile.TemporaryDirectory() as temporary:
        folder = args.data_dir or Path(temporary)
        folder.mkdir(parents=True, exist_ok=True)
        for name in args.names or ENTRIES:
            source = ENTRIES[name](folder)
            for which in [args.only] if args.only else ["before", "after"]:
                row = measure(name, source, which, changes, args.epochs_before)
                rows.append(row)
                scaled = row.get("scaled_seconds")
                note = "" if scaled is None else f" ({args.epochs_before} epochs; ≈{scaled:.0f} s)"
                print(
                    f"{name:14} {which:6} {row['metric']} {row['value']:.4f} "
                    f"{row['seconds']:7.1f} s (CPU {row['cpu_seconds']:.1f} s){note}",
                    flush=True,
                )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
