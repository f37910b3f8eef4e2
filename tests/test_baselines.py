"""Baselines fitted on a run's own split, and K-fold cross-validation of a user's table."""

import json

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_iris
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from threadpoolctl import threadpool_limits

from resode.cli import main
from resode.data import load_dataset
from resode.data.dataset import fold_order
from resode.runs import write_report
from resode.training import TrainConfig
from resode.training import baselines as baselines_module
from resode.training.baselines import fit_baseline, fit_baselines, wanted

TINY = ["--epochs", "2", "--width", "8", "--steps", "2", "--quiet"]


@pytest.fixture(scope="module")
def iris(tmp_path_factory):
    """A 120-row CSV of iris (40 rows of each class), target column ``target``."""
    frame = load_iris(as_frame=True).frame
    frame = frame.groupby("target").head(40).sample(frac=1.0, random_state=0)
    path = tmp_path_factory.mktemp("iris") / "iris.csv"
    frame.to_csv(path, index=False)
    return f"csv:{path}"


def _train(capsys, *flags) -> str:
    code = main(["train", *flags, *TINY])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out


def test_baselines_are_sklearn_fitted_on_the_runs_own_split(iris, tmp_path, capsys):
    out = _train(capsys, "--data", iris, "--target", "target", "--out", str(tmp_path / "run"))
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    dataset = load_dataset(iris, seed=0, target="target")
    x, y = dataset.x_train.numpy(), dataset.y_train.numpy()
    by_hand = {
        "logistic": LogisticRegression(max_iter=1000, random_state=0),
        "gradient_boosting": HistGradientBoostingClassifier(random_state=0),
    }
    assert set(metrics["baselines"]) == set(by_hand)
    for name, model in by_hand.items():
        with threadpool_limits(1, user_api="openmp"):  # fast on a busy machine; same trees
            model.fit(x, y)
            for split in ("train", "val", "test"):
                xs, ys = (values.numpy() for values in dataset.split(split))
                accuracy = float(np.mean(model.predict(xs) == ys))
                assert metrics["baselines"][name][f"{split}_accuracy"] == accuracy, (name, split)
        assert 0 < metrics["baselines"][name]["seconds"] < 60
    assert "120 rows: a test split of 18 rows moves by several points" in out
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("model "))
    assert lines[start].split()[1:3] == ["test", "accuracy"]
    rows = [line.split()[0] for line in lines[start + 1 : start + 4]]
    assert rows == ["resode", "logistic", "gradient_boosting"]
    beaten = [line for line in lines[start + 4 :] if " beats resode on test_accuracy" in line]
    better = [
        n for n, b in metrics["baselines"].items() if b["test_accuracy"] > metrics["test_accuracy"]
    ]
    assert [line.split()[0] for line in beaten] == better
    page = write_report(tmp_path / "run").read_text()
    section = page.split('<section id="baselines">')[1].split("</section>")[0]
    assert "gradient_boosting" in section and f"{metrics['test_accuracy']:.4g}" in section


def test_regression_baselines_report_the_targets_own_units(tmp_path):
    frame = load_diabetes(as_frame=True, scaled=False).frame.head(120)
    frame.to_csv(tmp_path / "d.csv", index=False)
    dataset = load_dataset(f"csv:{tmp_path / 'd.csv'}", seed=1, target="target")
    mean, std = dataset.target_scale
    result = fit_baselines(dataset, seed=1)
    assert set(result) == {"ridge", "gradient_boosting"}
    model = Ridge(random_state=1).fit(dataset.x_train.numpy(), dataset.y_train.numpy().ravel())
    truth = dataset.y_test.numpy().ravel() * std + mean
    predicted = model.predict(dataset.x_test.numpy()) * std + mean
    ridge = result["ridge"]
    assert ridge["test_rmse"] == pytest.approx(mean_squared_error(truth, predicted) ** 0.5)
    assert ridge["test_mae"] == pytest.approx(mean_absolute_error(truth, predicted))
    assert ridge["test_r2"] == pytest.approx(r2_score(truth, predicted))
    assert ridge["test_rmse"] > 20  # diabetes progression is in the tens, not standardized
    assert "test_r2" in result["gradient_boosting"]


def test_no_baselines_writes_none_and_a_failing_one_keeps_its_error(
    iris, tmp_path, capsys, monkeypatch
):
    out = _train(
        capsys, "--data", iris, "--target", "target", "--no-baselines", "--out", str(tmp_path / "r")
    )
    assert "baselines" not in json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert "logistic" not in out
    dataset = load_dataset(iris, seed=0, target="target")
    assert not wanted(TrainConfig(data="peaks"), dataset)
    assert wanted(TrainConfig(data="peaks", baselines=True), dataset)

    class Broken:
        def fit(self, x, y):
            raise ValueError("no fit today")

    monkeypatch.setattr(baselines_module, "_model", lambda *args: Broken())
    assert fit_baseline("logistic", dataset, 0) == {"error": "ValueError: no fit today"}


@pytest.mark.parametrize("folds", [2, 3, 5, 7])
def test_folds_partition_every_row_once_and_are_stratified(folds):
    labels = np.repeat([0, 1, 2], [50, 37, 13])
    tests = []
    for fold in range(1, folds + 1):
        train, val, test = fold_order(labels, fold, folds, seed=4)
        assert np.array_equal(np.sort(np.concatenate([train, val, test])), np.arange(100))
        assert len(val) == round(0.15 * (100 - len(test)))
        tests.append(test)
    rows = np.concatenate(tests)
    assert np.array_equal(np.sort(rows), np.arange(100))  # each row in exactly one test fold
    counts = np.array([np.bincount(labels[test], minlength=3) for test in tests])
    assert (counts.max(axis=0) - counts.min(axis=0) <= 1).all(), counts
    sizes = [len(test) for test in tests]
    assert max(sizes) - min(sizes) <= 1
    plain = np.concatenate([fold_order(100, k, folds, seed=4)[2] for k in range(1, folds + 1)])
    assert np.array_equal(np.sort(plain), np.arange(100))
    assert not np.array_equal(fold_order(labels, 1, folds, 5)[2], tests[0])  # seeded


def test_folds_cli_writes_k_runs_and_their_mean_and_std(iris, tmp_path, capsys):
    out_dir = tmp_path / "cv"
    flags = ["--data", iris, "--target", "target", "--folds", "3", "--out", str(out_dir)]
    out = _train(capsys, *flags)
    assert "rows: a test split" not in out and "3-fold cross-validation" in out
    document = json.loads((out_dir / "folds.json").read_text())
    assert document["complete"] and document["folds"] == 3
    per_fold = [json.loads((out_dir / f"fold-{k}/metrics.json").read_text()) for k in (1, 2, 3)]
    for k in (1, 2, 3):
        assert json.loads((out_dir / f"fold-{k}/config.json").read_text())["fold"] == k
    tested = [m["test_accuracy"] for m in per_fold]
    summary = document["summary"]["resode"]["test_accuracy"]
    assert summary["mean"] == pytest.approx(np.mean(tested))
    assert summary["std"] == pytest.approx(np.std(tested, ddof=1))
    boosted = [m["baselines"]["gradient_boosting"]["test_accuracy"] for m in per_fold]
    mean = document["summary"]["gradient_boosting"]["test_accuracy"]["mean"]
    assert mean == pytest.approx(np.mean(boosted))
    tests = [load_dataset(iris, target="target", folds=(k, 3)).y_test for k in (1, 2, 3)]
    assert sum(len(y) for y in tests) == 120
    counts = np.array([np.bincount(y.numpy(), minlength=3) for y in tests])
    assert (counts.max(axis=0) - counts.min(axis=0) <= 1).all()
    assert main(["evaluate", str(out_dir / "fold-2"), "--json"]) == 0  # the fold's own split
    evaluated = json.loads(capsys.readouterr().out)
    assert evaluated["test_accuracy"] == pytest.approx(per_fold[1]["test_accuracy"], abs=1e-6)
    (out_dir / "fold-3" / "metrics.json").unlink()
    again = _train(capsys, "--resume", str(out_dir))
    assert again.count("finished before") == 2 and "fold 3/3" in again
    resumed = json.loads((out_dir / "folds.json").read_text())["summary"]
    for model, summary in document["summary"].items():
        for name, value in summary.items():
            if name != "seconds":
                assert resumed[model][name] == value, (model, name)


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--folds", "1"], "folds must be an integer >= 2, got 1"),
        (["--folds", "121"], "--folds 121 asks for more folds than the 120 rows"),
        (["--folds", "3", "--fold", "4"], "--fold must lie in 1 … 3"),
        (["--fold", "2"], "--fold 2 needs --folds K"),
        (["--data", "peaks", "--folds", "3"], "--folds applies to your own data"),
        (["--data", "fixed", "--folds", "3"], "--folds needs one file of all rows"),
        (["--data", "digits", "--baselines"], "--baselines applies to tables"),
    ],
)
def test_bad_folds_and_baselines_are_one_line_and_exit_2(flags, message, iris, tmp_path, capsys):
    frame = load_iris(as_frame=True).frame
    frame.iloc[:100].to_csv(tmp_path / "f_train.csv", index=False)
    frame.iloc[100:].to_csv(tmp_path / "f_test.csv", index=False)
    data = {"fixed": f"csv:{tmp_path / 'f.csv'}"}
    flags = [data.get(flag, flag) for flag in flags]
    source = [] if "--data" in flags else ["--data", iris]
    target = [] if "peaks" in flags or "digits" in flags else ["--target", "target"]
    code = main(["train", *source, *target, *flags, *TINY, "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "run").exists()
