"""``resode sweep show SWEEP_DIR``: the leaderboard printed and written, the best configuration
as a recipe, figures and ``sweep.html``.

Files written into the sweep directory: ``leaderboard.csv`` (one row per configuration: the
point, seeds finished, mean and std of every metric), ``leaderboard.json`` (the same with the
trials), ``best.toml`` (the best configuration's settings, which ``resode train --config``
accepts), the figures of :mod:`.figures` and ``sweep.html`` (:mod:`.page`).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from ..errors import ResodeError
from ..storage import atomic_write, read_json, write_json
from ..training.config_file import config_toml
from .leaderboard import leaderboard, mean_std_text, trial_records
from .run import SWEEP_JSON, SWEEP_TOML
from .spec import read_spec
from .study import open_storage, optuna, shown

LEADERBOARD_CSV, LEADERBOARD_JSON, BEST_TOML = "leaderboard.csv", "leaderboard.json", "best.toml"


def load_sweep(sweep_dir: str | Path, storage: str | None = None, study_name: str | None = None):
    """(spec, study, records, rows) of the sweep in ``sweep_dir``."""
    sweep_dir = Path(sweep_dir)
    if not (sweep_dir / SWEEP_JSON).exists():
        raise ResodeError(f"{sweep_dir} is not a sweep directory (no {SWEEP_JSON}); "
                          "start one with resode sweep SPEC.toml --out DIR")  # fmt: skip
    stored = read_json(sweep_dir / SWEEP_JSON)
    url = storage or stored["storage"]
    name = study_name or stored["study"]
    spec = read_spec(sweep_dir / SWEEP_TOML, stored.get("spec_folder"))
    module = optuna()
    try:
        study = module.load_study(storage=open_storage(url), study_name=name)
    except KeyError:
        raise ResodeError(f"no study {name} on {shown(url)}") from None
    records = trial_records(study)
    return spec, study, records, leaderboard(records, spec.metric, spec.direction,
                                             len(spec.seeds))  # fmt: skip


def show_sweep(sweep_dir: str | Path, storage: str | None = None, study_name: str | None = None,
               figures: bool = True) -> int:  # fmt: skip
    """Print the leaderboard; write the files of the module docstring. Exit status 0."""
    sweep_dir = Path(sweep_dir)
    spec, study, records, rows = load_sweep(sweep_dir, storage, study_name)
    columns = _columns(spec, rows)
    print(_text_table(spec, rows, columns))
    states = [r["state"] for r in records]
    print(f"{states.count('complete')} trials complete, {states.count('pruned')} pruned, "
          f"{states.count('failed')} failed, "
          f"{states.count('running') + states.count('waiting')} to go")  # fmt: skip
    _write_csv(sweep_dir / LEADERBOARD_CSV, spec, rows, columns)
    write_json(sweep_dir / LEADERBOARD_JSON, {"metric": spec.metric, "direction": spec.direction,
                                              "rows": rows, "trials": records})  # fmt: skip
    written = [sweep_dir / LEADERBOARD_CSV, sweep_dir / LEADERBOARD_JSON]
    best = next((row for row in rows if row["finished"]), None)
    if best is not None:
        written.append(write_best(sweep_dir / BEST_TOML, spec, best))
    if figures:
        from .figures import write_figures
        from .page import write_page

        pictures = write_figures(sweep_dir, spec, rows, records)
        written += pictures
        written.append(write_page(sweep_dir, spec, study.study_name, rows, records, pictures))
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def _columns(spec, rows: list[dict]) -> list[str]:
    """The metrics shown: the sweep's metric, its test counterpart, the others of the same
    split pair, then seconds."""
    main = spec.metric[len("val_"):]
    present = {k for row in rows for k in row if k.startswith(("val_", "test_"))}
    first = [f"val_{main}", f"test_{main}"]
    rest = sorted(k for k in present if k not in first and not k.endswith("_loss"))
    return [k for k in first if k in present] + rest + ["seconds"]


def _text_table(spec, rows: list[dict], columns: list[str]) -> str:
    names = list(spec.space)
    header = ["#", *names, "seeds", *columns[:2], "seconds"]
    lines = []
    for index, row in enumerate(rows, 1):
        cells = [str(index), *(_cell(row["point"][n]) for n in names), _seeds_cell(row)]
        cells += [mean_std_text(row.get(c, (None, None))) for c in columns[:2]]
        cells.append(mean_std_text(row.get("seconds", (None, None)), 1))
        lines.append(cells)
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h)
              for i, h in enumerate(header)]  # fmt: skip
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    out += ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines]
    return "\n".join(out)


def _cell(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _seeds_cell(row: dict) -> str:
    total = row["finished"] + row["pruned"] + row["failed"] + row["running"]
    extra = "".join(f" {row[k]} {k}" for k in ("pruned", "failed") if row[k])
    return f"{row['finished']}/{total}{extra}"


def _write_csv(path: Path, spec, rows: list[dict], columns: list[str]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    names = list(spec.space)
    metric_columns = [f"{c}_{part}" for c in columns for part in ("mean", "std")]
    writer.writerow(["rank", *names, "finished", "pruned", "failed", *metric_columns, "runs"])
    for index, row in enumerate(rows, 1):
        values = [v for c in columns for v in row.get(c, (None, None))]
        writer.writerow([index, *(row["point"][n] for n in names), row["finished"],
                         row["pruned"], row["failed"],
                         *("" if v is None else v for v in values), " ".join(row["runs"])])
    atomic_write(path, lambda handle: handle.write(buffer.getvalue()))


def write_best(path: Path, spec, row: dict) -> Path:
    """The best configuration's settings as a TOML file for ``resode train --config``."""
    sweep_dir_name = path.parent.name
    config = spec.trial_config(json.loads(row["configuration"]), spec.seeds[0])
    metric, test = spec.metric, "test_" + spec.metric[len("val_"):]
    header = (
        f"the best configuration of the sweep {sweep_dir_name} by {metric} over "
        f"{row['finished']} seed(s)\n"
        f"{metric} {mean_std_text(row.get(metric, (None, None)))}, "
        f"{test} {mean_std_text(row.get(test, (None, None)))}\n"
        "train it: resode train --config best.toml"
    )
    atomic_write(path, lambda handle: handle.write(config_toml(config, header)))
    return path
