"""Tables as users have them: text, dates, gaps, identifiers; the encoding fitted on the
training rows and stored as JSON; prediction that matches columns by name only."""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resode.cli import main
from resode.data import load_dataset
from resode.data.tables import MISSING_LEVEL, TableEncoding, fit_column
from resode.errors import ResodeError
from resode.runs import load_run, predict_run, write_report
from resode.training.config import TrainConfig
from resode.training.loop import train

TINY = {"epochs": 1, "steps": 1, "width": 4, "batch_size": 16}
FLAGS = ["--epochs", "1", "--steps", "1", "--width", "4", "--quiet"]


def _frame(rows: int, rng: np.random.Generator, gaps: bool = True) -> pd.DataFrame:
    """A table as users have it: an id, numbers with gaps, text, dates, a flag, a constant."""
    islands = np.array(["north", "south", "east"])
    mass = rng.normal(40.0, 5.0, rows)
    frame = pd.DataFrame(
        {
            "name": [f"animal-{i:03d}" for i in rows - np.arange(rows)],
            "mass": np.round(mass, 2),
            "island": islands[rng.integers(0, 3, rows)],
            "seen": pd.date_range("2012-01-01", periods=rows, freq="9D").strftime("%Y-%m-%d"),
            "tagged": np.where(rng.random(rows) < 0.5, "yes", "no"),
            "study": "A",
            "species": np.where(mass > 40.0, "big", "small"),
        }
    )
    if gaps:
        frame.loc[rng.random(rows) < 0.15, "mass"] = np.nan
        frame.loc[rng.random(rows) < 0.1, "island"] = None
    return frame


def _rows(path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_each_kind_of_column_is_encoded_from_the_training_rows():
    dates = fit_column("d", pd.Series(["2020-01-01", "2020-07-02", None, "2021-12-31"]))
    assert dates.kind == "date" and dates.indicator
    x, unread = dates.encode(pd.Series(["2020-07-02", None]))
    angle = 2 * math.pi * 183 / 365.25  # 2 July 2020 is day 184 of a leap year
    np.testing.assert_allclose(x[0], [2020, math.sin(angle), math.cos(angle), 0.0])
    np.testing.assert_allclose(x[1, :3], dates.fill)
    assert x[1, 3] == 1.0 and unread == 0
    numbers = fit_column("m", pd.Series([1.0, np.inf, 3.0, np.nan, 10.0]))
    assert numbers.kind == "number" and numbers.fill == (3.0,) and numbers.indicator
    category = fit_column("c", pd.Series(["a", "b", None, "a", "b", "a"]))
    assert category.levels == ("a", "b", MISSING_LEVEL)
    x, unseen = category.encode(pd.Series(["b", None, "zebra"]))
    np.testing.assert_array_equal(x, [[0, 1, 0], [0, 0, 1], [0, 0, 0]])
    assert unseen == 1
    assert fit_column("t", pd.Series(["Yes", "no", "YES", "No"])).kind == "boolean"
    assert fit_column("k", pd.Series([7, 7, 7])).kind == "constant"
    assert fit_column("u", pd.Series(list("pqrstuvwxyz"))).kind == "identifier"
    assert fit_column("Unnamed: 0", pd.Series([0, 1, 2, 3])).kind == "identifier"
    assert fit_column("count", pd.Series([0, 1, 2, 3])).kind == "number"
    many = pd.Series([f"w{i % 40}" for i in range(200)])
    assert fit_column("words", many).kind == "text"


def test_the_encoding_is_fitted_on_the_training_split_and_stored_as_json(tmp_path):
    frame = _frame(120, np.random.default_rng(0))
    frame.to_csv(tmp_path / "t.csv", index=False)
    source = f"csv:{tmp_path / 't.csv'}"
    dataset = load_dataset(source, seed=3, target="species")
    stored = dataset.preprocessing
    encoding = TableEncoding.from_dict(json.loads(json.dumps(stored["table"])))
    kinds = {c.name: c.kind for c in encoding.columns}
    assert kinds == {
        "name": "identifier", "mass": "number", "island": "category", "seen": "date",
        "tagged": "boolean", "study": "constant",
    }  # fmt: skip
    train_names = set(dataset.rows["train"])
    train = frame[frame["name"].isin(train_names)]
    mass = encoding.columns[1]
    assert mass.fill == (float(np.nanmedian(train["mass"])),)  # training rows only
    assert dataset.rows["name"] == "name"
    assert len(train_names) == len(dataset.x_train)
    again = load_dataset(source, seed=3, target="species", preprocessing=stored)
    torch.testing.assert_close(again.x_test, dataset.x_test)


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 2**16), rows=st.integers(40, 90), gaps=st.booleans())
def test_generated_tables_train_then_predict_by_name_as_the_model_answers(
    tmp_path_factory, seed, rows, gaps
):
    folder = tmp_path_factory.mktemp("table")
    frame = _frame(rows, np.random.default_rng(seed), gaps)
    frame.to_csv(folder / "t.csv", index=False)
    config = TrainConfig(data=f"csv:{folder / 't.csv'}", target="species", seed=seed, **TINY)
    train(config, folder / "run", progress=False)
    model, dataset = load_run(folder / "run")
    with torch.no_grad():
        expected = model(dataset.x_test).softmax(dim=1).numpy()
    shuffled = frame[list(reversed(frame.columns))].assign(extra="ignored")
    shuffled.to_csv(folder / "new.csv", index=False)
    predict_run(folder / "run", str(folder / "new.csv"), folder / "p.csv")
    written = {row["name"]: row for row in _rows(folder / "p.csv")}
    assert len(written) == rows
    names = list(dataset.class_names)
    for label, probabilities in zip(dataset.rows["test"], expected):
        row = written[label]
        got = [float(row[f"p_{n}"]) for n in names]
        np.testing.assert_allclose(got, probabilities, rtol=1e-5, atol=1e-6)
        assert row["true_species"] == frame.set_index("name").loc[label, "species"]


def test_a_renamed_or_missing_column_is_refused_and_a_reordered_one_matched(tmp_path, capsys):
    frame = _frame(80, np.random.default_rng(1))
    frame.to_csv(tmp_path / "t.csv", index=False)
    run = tmp_path / "run"
    assert main(["train", "--data", f"csv:{tmp_path / 't.csv'}", "--target", "species",
                 *FLAGS, "--out", str(run)]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "seen    date        3 features: year, day of the year as sin and cos" in out
    assert "study   constant    left out: one value in every training row" in out
    frame.rename(columns={"mass": "Mass"}).to_csv(tmp_path / "renamed.csv", index=False)
    frame.drop(columns=["seen"]).to_csv(tmp_path / "missing.csv", index=False)
    for name, told in (("renamed", "'mass'; did you mean 'Mass'?"), ("missing", "'seen'")):
        code = main(["predict", str(run), str(tmp_path / f"{name}.csv"), "--out",
                     str(tmp_path / "p.csv")])  # fmt: skip
        err = capsys.readouterr().err
        assert code == 2 and told in err and err.count("\n") == 1, err
        assert not (tmp_path / "p.csv").exists()
    predicted = {}
    for name, table in (("same", frame), ("reordered", frame[frame.columns[::-1]])):
        table.to_csv(tmp_path / f"{name}.csv", index=False)
        assert main(["predict", str(run), str(tmp_path / f"{name}.csv"), "--out",
                     str(tmp_path / f"{name}.out.csv")]) == 0  # fmt: skip
        predicted[name] = _rows(tmp_path / f"{name}.out.csv")
    assert predicted["same"] == predicted["reordered"]


def test_predict_handles_gaps_and_unseen_levels_with_a_note(tmp_path, capsys):
    frame = _frame(80, np.random.default_rng(2), gaps=False)
    frame.to_csv(tmp_path / "t.csv", index=False)
    run = tmp_path / "run"
    assert main(["train", "--data", f"csv:{tmp_path / 't.csv'}", "--target", "species",
                 *FLAGS, "--out", str(run)]) == 0  # fmt: skip
    new = frame.drop(columns=["species"]).head(5).copy()
    new.loc[0, "island"] = "atlantis"
    new.loc[1, "mass"] = np.nan
    new.loc[2, "seen"] = "not a date"
    new.to_csv(tmp_path / "new.csv", index=False)
    capsys.readouterr()
    assert main(["predict", str(run), str(tmp_path / "new.csv"), "--out",
                 str(tmp_path / "p.csv")]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "'island': 1 row(s) with a level not seen in training" in out
    assert "'mass': 1 gap(s) (none in training), filled with the training median" in out
    assert "'seen': 1 row(s) with a cell that is not a date, read as a gap" in out
    rows = _rows(tmp_path / "p.csv")
    assert [r["name"] for r in rows] == list(new["name"]) and "true_species" not in rows[0]


def test_predict_test_writes_source_rows_and_true_labels(tmp_path):
    frame = _frame(60, np.random.default_rng(4)).drop(columns=["name"])
    frame.to_csv(tmp_path / "t.csv", index=False)
    config = TrainConfig(data=f"csv:{tmp_path / 't.csv'}", target="species", **TINY)
    train(config, tmp_path / "run", progress=False)
    rows = _rows(predict_run(tmp_path / "run", "test", tmp_path / "p.csv"))
    assert len(rows) == 9
    for row in rows:  # row 1 is the first data row below the header
        assert row["true_species"] == frame.loc[int(row["row"]) - 1, "species"]
    page = write_report(tmp_path / "run").read_text()
    assert "<td>seen</td><td>date</td><td>3 features: year, day of the year" in page


def test_parquet_and_tab_separated_files_read_as_the_csv(tmp_path):
    frame = _frame(50, np.random.default_rng(5))
    frame.to_csv(tmp_path / "t.csv", index=False)
    frame.to_csv(tmp_path / "t.tsv", index=False, sep="\t")
    frame.to_parquet(tmp_path / "t.parquet", index=False)
    loaded = {
        suffix: load_dataset(f"{form}:{tmp_path / f't.{suffix}'}", seed=1, target="species")
        for form, suffix in (("csv", "csv"), ("csv", "tsv"), ("parquet", "parquet"))
    }
    for other in ("tsv", "parquet"):
        torch.testing.assert_close(loaded[other].x_train, loaded["csv"].x_train)
        assert loaded[other].preprocessing == loaded["csv"].preprocessing
    with pytest.raises(ResodeError, match="cannot read .*t.csv as a table"):
        load_dataset(f"parquet:{tmp_path / 't.csv'}", target="species")  # the form decides


def test_drop_missing_and_drop_columns(tmp_path, capsys):
    frame = _frame(100, np.random.default_rng(6))
    frame.loc[3, "species"] = None
    frame.to_csv(tmp_path / "t.csv", index=False)
    source = f"csv:{tmp_path / 't.csv'}"
    complete = int(frame.notna().all(axis=1).sum())
    kept = load_dataset(source, target="species", drop_missing=True, drop_columns=["tagged"])
    assert sum(len(kept.split(s)[0]) for s in ("train", "val", "test")) == complete
    assert not any(name.startswith("tagged") for name in kept.preprocessing["features"])
    assert not any("missing" in name for name in kept.preprocessing["features"])
    assert main(["train", "--data", source, "--target", "species", "--drop-missing", *FLAGS,
                 "--out", str(tmp_path / "run")]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "left out 1 row(s) without a target" in out
    assert f"--drop-missing left out {99 - complete} row(s) with gaps" in out


def test_every_problem_of_a_table_is_refused_in_one_message(tmp_path, capsys):
    frame = _frame(30, np.random.default_rng(7)).assign(species="same")
    frame.to_csv(tmp_path / "t.csv", index=False)
    flags = ["--data", f"csv:{tmp_path / 't.csv'}", "--target", "species", "--id-column", "nme",
             "--drop-columns", "island,colour"]  # fmt: skip
    assert main(["train", *flags, *FLAGS, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "3 problems:" in err
    assert "--id-column 'nme' is not a column of the table; did you mean 'name'?" in err
    assert "--drop-columns 'colour' is not a column" in err
    assert "has only one class ('same')" in err
    assert not (tmp_path / "run").exists()
    (tmp_path / "empty.csv").write_text("a,b,species\n")
    assert main(["train", "--data", f"csv:{tmp_path / 'empty.csv'}", "--target", "species",
                 *FLAGS, "--out", str(tmp_path / "run")]) == 2  # fmt: skip
    assert "holds no examples" in capsys.readouterr().err


def test_a_first_row_that_does_not_name_every_field_is_refused(tmp_path, capsys):
    """scikit-learn's breast_cancer.csv starts with a row of counts and class names (569, 30,
    malignant, benign) above rows of 31 fields: read as it is, 27 fields would become an index
    and three of the 30 measurements would be trained on."""
    import sklearn.datasets

    raw = Path(sklearn.datasets.__file__).parent / "data" / "breast_cancer.csv"
    assert main(["train", "--data", f"csv:{raw}", "--target", "benign", *FLAGS,
                 "--out", str(tmp_path / "run")]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "the first row names 4 column(s) but the data rows have 31 fields" in err
    assert "569, 30, malignant, benign" in err
    assert not (tmp_path / "run").exists()
    (tmp_path / "short.csv").write_text("a,y\n" + "1,2,3,0\n4,5,6,1\n" * 10)
    with pytest.raises(ResodeError, match="names 2 column.*have 4 fields"):
        load_dataset(f"csv:{tmp_path / 'short.csv'}", target="y")


def test_row_names_without_a_header_field_are_an_identifier_column(tmp_path):
    """R's write.table writes a row's name first and leaves that column unnamed in the first
    row; names in single quotes (as some statistics programs write them) lose the quotes."""
    rng = np.random.default_rng(3)
    rows = [f'"site {i}" {x:.3f} {x > 0:d}' for i, x in enumerate(rng.normal(size=60))]
    (tmp_path / "r.txt").write_text("'level' 'high'\n" + "\n".join(rows) + "\n")
    data = load_dataset(f"csv:{tmp_path / 'r.txt'}", seed=0, target="high")
    assert data.preprocessing["features"] == ["level"]
    columns = {c["name"]: c["kind"] for c in data.preprocessing["table"]["columns"]}
    assert columns == {"Unnamed: 0": "identifier", "level": "number"}
    (tmp_path / "notes.csv").write_text("Series: unemployment\nRate: percent\n\nid,year,value\n"
                                        "a,1959,5.8\nb,1960,5.1\n")  # fmt: skip
    with pytest.raises(ResodeError, match="line .* has 3 fields but the first row has 1.*notes"):
        load_dataset(f"csv:{tmp_path / 'notes.csv'}", target="value")


@pytest.mark.parametrize("content", ["", "a,b\n1,2,3,4\n\x00\x01", "x;y\n1;2\n"])
def test_predict_never_gives_a_traceback_on_a_broken_table(tmp_path, capsys, content):
    frame = _frame(40, np.random.default_rng(8), gaps=False)
    frame.to_csv(tmp_path / "t.csv", index=False)
    config = TrainConfig(data=f"csv:{tmp_path / 't.csv'}", target="species", **TINY)
    train(config, tmp_path / "run", progress=False)
    (tmp_path / "bad.csv").write_text(content)
    assert main(["predict", str(tmp_path / "run"), str(tmp_path / "bad.csv")]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def _sklearn_table(name: str) -> Path:
    import sklearn.datasets

    return Path(sklearn.datasets.__file__).parent / "data" / name


def test_semicolons_with_decimal_commas_and_tabs_read_as_the_comma_file(tmp_path):
    """A spreadsheet in a European locale writes ``1,5`` between semicolons; quoted names
    may hold commas."""
    frame = _frame(60, np.random.default_rng(9)).rename(columns={"mass": "mass, kg"})
    frame.to_csv(tmp_path / "t.csv", index=False)
    frame.to_csv(tmp_path / "eu.csv", index=False, sep=";", decimal=",")
    frame.to_csv(tmp_path / "points.csv", index=False, sep=";")
    frame.to_csv(tmp_path / "tabs.csv", index=False, sep="\t")
    assert re.search(r";\d+,\d+;", (tmp_path / "eu.csv").read_text())  # decimal commas
    base = load_dataset(f"csv:{tmp_path / 't.csv'}", seed=1, target="species")
    assert base.preprocessing["features"][0] == "mass, kg"
    for name in ("eu", "points", "tabs"):
        other = load_dataset(f"csv:{tmp_path / f'{name}.csv'}", seed=1, target="species")
        torch.testing.assert_close(other.x_train, base.x_train)
        assert other.preprocessing == base.preprocessing, name


def test_a_table_separated_by_spaces_reads_by_its_names(tmp_path):
    """scikit-learn's linnerud_exercise.csv: ``Chins Situps Jumps`` over rows of numbers."""
    from resode.data.dialect import text_dialect

    raw = _sklearn_table("linnerud_exercise.csv")
    assert text_dialect(raw).name == "spaces"
    data = load_dataset(f"csv:{raw}", seed=0, target="Jumps", task="regression")
    assert data.preprocessing["features"] == ["Chins", "Situps"]
    assert sum(len(data.split(s)[0]) for s in ("train", "val", "test")) == 20
    (tmp_path / "one.csv").write_text("body mass\n1.5\n2.5\n")  # one column, a space in its name
    assert text_dialect(tmp_path / "one.csv").name == "comma"


def test_a_file_without_a_header_row_is_refused(tmp_path, capsys):
    """scikit-learn's diabetes_data_raw.csv.gz holds numbers from its first row on: read as
    it is, the first patient would name the columns."""
    raw = _sklearn_table("diabetes_data_raw.csv.gz")
    assert main(["train", "--data", f"csv:{raw}", "--target", "87", *FLAGS,
                 "--out", str(tmp_path / "run")]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "the first row is all numbers, so the file has no header row" in err
    assert "59, 2, 32.1, 101.0, 157, 93.2 …" in err
    (tmp_path / "cut.csv.gz").write_bytes(raw.read_bytes()[:300])  # a download cut short
    assert main(["train", "--data", f"csv:{tmp_path / 'cut.csv.gz'}", "--target", "87", *FLAGS,
                 "--out", str(tmp_path / "run")]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot read" in err and "ended before" in err
    assert not (tmp_path / "run").exists()
