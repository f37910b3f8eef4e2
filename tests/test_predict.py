"""``resode predict``: a run applied to its test split, an NPZ file and a CSV file."""

import csv

import numpy as np
import torch

from resode.cli import main
from resode.training.runs import load_run

TINY = ["--data", "circles", "--steps", "3", "--width", "5", "--epochs", "2", "--quiet"]


def test_predict_test_split_npz_and_csv_agree_with_the_model(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", *TINY, "--out", str(run)]) == 0
    model, dataset = load_run(run)
    x = dataset.x_test[:5]
    with torch.no_grad():
        want = model(x).softmax(dim=1).numpy()
    np.savez(tmp_path / "x.npz", x=x.numpy())
    np.savetxt(tmp_path / "x.csv", x.numpy(), delimiter=",", header="a,b", comments="")
    for source in ("x.npz", "x.csv"):
        out = tmp_path / f"{source}.out.csv"
        assert main(["predict", str(run), str(tmp_path / source), "--out", str(out)]) == 0
        with open(out) as f:
            rows = list(csv.DictReader(f))
        got = np.array([[float(r["p_inner"]), float(r["p_outer"])] for r in rows])
        assert np.allclose(got, want, atol=1e-6)
        assert rows[0]["class"] in ("inner", "outer")
    assert main(["predict", str(run), "test", "--steps", "6"]) == 0
    assert (run / "predictions.csv").exists()
    np.savez(tmp_path / "bad.npz", x=np.zeros((3, 5)))
    capsys.readouterr()
    assert main(["predict", str(run), str(tmp_path / "bad.npz")]) == 2
    err = capsys.readouterr().err
    assert "expects inputs of shape (batch, 2), got (3, 5)" in err and err.count("\n") == 1
