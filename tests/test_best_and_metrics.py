"""Results a user can trust: the best validation epoch kept, early stopping, class weights,
per-class metrics and regression errors in the target's units (checked against scikit-learn)."""

import csv
import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from sklearn.metrics import (
    balanced_accuracy_score,
    confusion_matrix,
    mean_absolute_error,
    mean_squared_error,
    precision_recall_fscore_support,
)
from sklearn.utils.class_weight import compute_class_weight

from resode.cli import main
from resode.runs import load_run
from resode.storage import read_tensors
from resode.tasks import balanced_class_weights, get_task
from resode.training import run_state
from resode.training.best import Best, track
from resode.training.config import TrainConfig
from resode.training.evaluation import evaluate
from resode.training.loop import train


def _write_table(path, count=240, seed=0):
    """Three features, three imbalanced classes (about 60/30/10 %) that overlap: a run's
    validation accuracy goes up and down from epoch to epoch."""
    rng = np.random.default_rng(seed)
    labels = rng.choice(["common", "middle", "rare"], size=count, p=[0.6, 0.3, 0.1])
    centers = {"common": 0.0, "middle": 1.0, "rare": 2.0}
    x = rng.normal(size=(count, 3)) + np.array([centers[c] for c in labels])[:, None]
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["a", "b", "c", "label"])
        writer.writerows([*row, label] for row, label in zip(x.round(4), labels))
    return f"csv:{path}"


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    return _write_table(tmp_path_factory.mktemp("table") / "data.csv")


def _config(table, **changes):
    settings = dict(
        data=table, target="label", width=4, steps=2, batch_size=16, lr=0.2, epochs=6,
        schedule="constant", device="cpu", seed=1,
    )  # fmt: skip
    return TrainConfig(**{**settings, **changes})


def _history(run):
    with open(run / "history.csv") as handle:
        return list(csv.DictReader(handle))


def _same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _latest(run):
    tensors, state = read_tensors(run / "checkpoint.safetensors")
    return {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}, state


@pytest.fixture(scope="module")
def straight(table, tmp_path_factory):
    out = tmp_path_factory.mktemp("straight") / "run"
    return out, train(_config(table, checkpoint_every=5), out, progress=False)


def test_the_best_validation_epoch_is_kept(straight):
    out, metrics = straight
    rows = _history(out)
    values = [float(row["val_accuracy"]) for row in rows]
    ranked = [(value, -float(row["val_loss"])) for value, row in zip(values, rows)]
    best = ranked.index(max(ranked)) + 1  # ties: the lower val loss; epochs from 1
    stored = json.loads((out / "metrics.json").read_text())
    assert stored["best_epoch"] == best == int(rows[best - 1]["epoch"])
    assert stored["kept"] == "best" and stored["best_metric"] == "val_accuracy"
    assert best < len(rows), "the check needs a run whose last epoch is not its best"
    model, dataset = load_run(out)
    assert evaluate(model, dataset, "val")["accuracy"] == pytest.approx(values[best - 1])
    assert stored["val_accuracy"] == pytest.approx(values[best - 1])
    latest, state = _latest(out)
    assert not _same(load_file(out / "model.safetensors"), latest)  # the checkpoint: latest
    assert state["best"]["epoch"] == best
    assert (out / "confusion.png").stat().st_size > 5_000
    assert stored["classes"]["names"] == ["common", "middle", "rare"]
    assert sum(stored["classes"]["support"]) == len(load_run(out)[1].y_test)


def test_evaluate_and_the_report_show_them(straight, capsys):
    out, metrics = straight
    assert main(["evaluate", str(out)]) == 0
    header, row = capsys.readouterr().out.splitlines()[:2]
    column = header.split().index("test_balanced_accuracy")
    assert float(row.split()[column]) == pytest.approx(metrics["test_balanced_accuracy"], 1e-3)
    assert main(["report", str(out)]) == 0
    page = (out / "report.html").read_text()
    assert f"model kept: the best validation epoch {metrics['best_epoch']} of 6" in page
    assert "<h3>Per class (test split)</h3>" in page and "<td>rare</td>" in page


def test_keep_last_keeps_the_last_epoch(table, straight, tmp_path):
    out = tmp_path / "last"
    metrics = train(_config(table, keep="last", checkpoint_every=5), out, progress=False)
    reference, _ = straight
    assert _same(load_file(out / "model.safetensors"), _latest(reference)[0])
    assert metrics["kept"] == "last" and metrics["best_epoch"] < 6


def test_resume_mid_epoch_with_keep_best_is_bit_identical(table, straight, tmp_path, monkeypatch):
    reference, metrics = straight
    original, calls = run_state.save_checkpoint, []

    def save_then_stop(*args, **kwargs):
        original(*args, **kwargs)
        calls.append(kwargs.get("position"))
        if len(calls) > 8 and calls[-1] is not None:  # a mid-epoch checkpoint, epoch ≥ 3
            raise KeyboardInterrupt

    out = tmp_path / "run"
    with monkeypatch.context() as patch:
        patch.setattr(run_state, "save_checkpoint", save_then_stop)
        with pytest.raises(KeyboardInterrupt):
            train(_config(table, checkpoint_every=5), out, progress=False)
    resumed = train(_config(table, checkpoint_every=5), out, resume=True, progress=False)
    assert _same(load_file(out / "model.safetensors"), load_file(reference / "model.safetensors"))
    assert _same(_latest(out)[0], _latest(reference)[0])
    assert resumed["best_epoch"] == metrics["best_epoch"]
    assert resumed["test_accuracy"] == metrics["test_accuracy"]


def test_patience_stops_a_run_and_restarts_when_it_is_trained_longer(table, tmp_path, capsys):
    out = tmp_path / "run"
    frozen = ["--data", table, "--target", "label", "--width", "4", "--steps", "2", "--quiet"]
    frozen += ["--lr", "1e-30", "--schedule", "constant", "--epochs", "9", "--patience", "2"]
    assert main(["train", *frozen, "--out", str(out)]) == 0  # nothing improves after epoch 1
    printed = capsys.readouterr().out
    assert "kept the best validation epoch 1 of 3 (val_accuracy" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["history"]) == 3 and metrics["stopped_early"] is True
    assert main(["train", "--resume", str(out), "--quiet"]) == 0  # done: stays done
    assert len(_history(out)) == 3
    assert main(["train", "--resume", str(out), "--epochs", "12", "--quiet"]) == 0
    assert [row["epoch"] for row in _history(out)] == ["1", "2", "3", "4", "5"]


def test_ties_go_to_the_lower_validation_loss_then_the_first_epoch():
    best = track(None, {"epoch": 1, "val_accuracy": 0.9, "val_loss": 0.3}, "val_accuracy", 0)
    for epoch, accuracy, loss in [(2, 0.9, 0.3), (3, 0.8, 0.1), (4, float("nan"), 0.0)]:
        row = {"epoch": epoch, "val_accuracy": accuracy, "val_loss": loss}
        assert track(best, row, "val_accuracy", 0) is best
    lower = track(best, {"epoch": 5, "val_accuracy": 0.9, "val_loss": 0.2}, "val_accuracy", 0)
    assert (lower.epoch, lower.loss) == (5, 0.2)
    higher = track(lower, {"epoch": 6, "val_accuracy": 0.95, "val_loss": 0.9}, "val_accuracy", 0)
    assert higher.epoch == 6
    assert track(higher, {"epoch": 7, "val_accuracy": 0.1}, "val_accuracy", 1).epoch == 7
    assert Best.from_dict(higher.to_dict()) == higher


def test_balanced_class_weights_are_those_of_scikit_learn():
    labels = torch.tensor([0, 0, 0, 0, 0, 0, 2, 2, 3])  # class 1 absent
    weights = balanced_class_weights(labels, 4)
    present = np.array([0, 2, 3])
    expected = compute_class_weight("balanced", classes=present, y=labels.numpy())
    assert weights[present].numpy() == pytest.approx(expected, rel=1e-6)
    assert float(weights[1]) == 0 and float(weights[labels].sum()) == pytest.approx(len(labels))


def test_weighted_cross_entropy_by_hand():
    output = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    target = torch.tensor([0, 1, 1])
    weight = torch.tensor([3.0, 0.5])
    task = get_task("classification")
    per_example = torch.nn.functional.cross_entropy(output, target, reduction="none")
    expected = (3.0 * per_example[0] + 0.5 * per_example[1] + 0.5 * per_example[2]) / 3
    assert float(task.weighted(weight).loss(output, target)) == pytest.approx(float(expected))
    assert float(task.loss(output, target)) == pytest.approx(float(per_example.mean()))
    up = task.weighted(torch.tensor([0.5, 3.0]))  # class 1, the worse fitted, weighs more
    assert up.loss(output, target) > task.loss(output, target)


def test_class_weights_train_and_are_refused_where_they_do_not_apply(table, tmp_path, capsys):
    plain = train(_config(table, epochs=1), tmp_path / "plain", progress=False)
    weighted = _config(table, epochs=1, class_weight="balanced")
    balanced = train(weighted, tmp_path / "weighted", progress=False)
    assert balanced["history"][0]["train_loss"] != plain["history"][0]["train_loss"]
    flags = ["--quiet", "--out", str(tmp_path / "refused")]
    assert main(["train", "--data", "diabetes", "--class-weight", "balanced", *flags]) == 2
    error = capsys.readouterr().err
    assert "--class-weight applies to classification and segmentation, not regression" in error
    assert error.count("\n") == 1
    assert main(["train", "--class-weight", "balanced", "--varpro", *flags]) == 2
    assert "--class-weight applies to adam and sgd" in capsys.readouterr().err


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_classification_metrics_match_scikit_learn():
    generator = torch.Generator().manual_seed(0)
    classes = 5
    target = torch.randint(0, 4, (300,), generator=generator)  # class 4 never true
    output = torch.randn(300, classes, generator=generator)
    output[:, 2] -= 10  # class 2 never predicted
    predicted = output.argmax(dim=1).numpy()
    task = get_task("classification")
    metrics = task.metrics(output, target)
    truth = target.numpy()
    assert metrics["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(truth, predicted))
    report = task.report(output, target, [f"c{i}" for i in range(classes)])
    labels = list(range(classes))
    assert report["confusion"] == confusion_matrix(truth, predicted, labels=labels).tolist()
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, labels=labels, zero_division=0
    )
    assert report["precision"] == pytest.approx(precision.tolist())
    assert report["recall"] == pytest.approx(recall.tolist())
    assert report["f1"] == pytest.approx(f1.tolist())
    assert report["support"] == support.tolist()


def test_regression_errors_are_in_the_targets_units():
    generator = torch.Generator().manual_seed(1)
    target = torch.randn(200, 2, generator=generator, dtype=torch.float64)
    output = target + 0.3 * torch.randn(200, 2, generator=generator, dtype=torch.float64)
    mean, std = 150.0, 40.0
    metrics = get_task("regression").metrics(output, target, target_scale=(mean, std))
    truth, predicted = (target * std + mean).numpy(), (output * std + mean).numpy()
    columns = mean_squared_error(truth, predicted, multioutput="raw_values") ** 0.5
    assert metrics["rmse"] == pytest.approx(columns.mean())
    assert metrics["mae"] == pytest.approx(mean_absolute_error(truth, predicted))
    one = get_task("regression").metrics(output[:, :1], target[:, :1], target_scale=(mean, std))
    assert one["rmse"] == pytest.approx(mean_squared_error(truth[:, 0], predicted[:, 0]) ** 0.5)
