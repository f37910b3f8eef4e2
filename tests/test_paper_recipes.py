"""The paper recipes for CIFAR-10: built at full size (parameters counted by hand) and a smoke
run of each on a few hundred 32×32 colour images (one epoch: the loss goes down)."""

import numpy as np
import pytest
import torch

from resode.cli import main
from resode.data import load_dataset
from resode.storage import read_json
from resode.training.evaluation import evaluate
from resode.training.factory import build_model
from resode.training.recipes import recipe, recipes
from resode.training.state import read_config

PAPER = ("cifar10-hamiltonian", "cifar10-antisymmetric", "cifar10-parabolic")
CIFAR = {"kind": "image", "input_shape": [3, 32, 32], "in_features": 3, "out_features": 10,
         "task": "classification"}  # fmt: skip


def _parameters_by_hand(widths, steps, channels=3, classes=10, k=3) -> int:
    """Opening k×k convolution; per unit N weight sets of a c×c k×k kernel, a bias (K and
    Kᵀ, K − Kᵀ share one K) and batch norm's scale; 1×1 connectors; the linear head."""
    opening = channels * widths[0] * k * k + widths[0]
    units = sum(n * (c * c * k * k + 2 * c) for c, n in zip(widths, steps))
    connectors = sum(a * b + b for a, b in zip(widths, widths[1:]))
    return opening + units + connectors + widths[-1] * classes + classes


@pytest.mark.parametrize("name", PAPER)
def test_a_paper_recipe_builds_at_full_size(name):
    shipped = recipe(name)
    config = shipped.config()
    assert config.data == "cifar10" and config.widths == [32, 64, 112]
    assert config.optimizer == "sgd" and config.momentum == 0.9 and config.augment
    model = build_model(config, CIFAR)
    counted = sum(p.numel() for p in model.parameters())
    assert counted == _parameters_by_hand(config.widths, config.steps)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert shipped.paper is not None and "paper:" in shipped.result()


def test_the_paper_recipes_are_listed_with_their_papers(capsys):
    assert main(["recipes"]) == 0
    listed = capsys.readouterr().out
    for name in PAPER:
        assert name in listed and recipes()[name].paper["reference"] in listed


@pytest.fixture(scope="module")
def colour_images(tmp_path_factory):
    """300 images 3×32×32 of 10 classes: a fixed pattern per class under noise."""
    rng = np.random.default_rng(0)
    patterns = rng.normal(size=(10, 3, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, 300)
    x = patterns[y] + 0.5 * rng.normal(size=(300, 3, 32, 32)).astype(np.float32)
    path = tmp_path_factory.mktemp("cifar-like") / "images.npz"
    np.savez(path, x=x, y=y)
    return path


@pytest.mark.parametrize("name", PAPER)
def test_a_smoke_run_of_a_paper_recipe_lowers_the_loss(name, colour_images, tmp_path):
    out = tmp_path / "run"
    flags = ["--recipe", name, "--data", f"npz:{colour_images}", "--epochs", "1",
             "--batch-size", "32", "--out", str(out), "--quiet"]  # fmt: skip
    assert main(["train", *flags]) == 0
    config = read_config(out)
    dataset = load_dataset(config.data, seed=config.seed, **config.dataset_options())
    torch.manual_seed(config.seed)  # the run's initial network, its batch statistics measured
    network = build_model(config, CIFAR).train()  # on the training images as one epoch would
    with torch.no_grad():
        for batch in dataset.x_train.split(32):
            network(batch)
    initial = evaluate(network, dataset, "train")["loss"]
    trained = read_json(out / "metrics.json")["train_loss"]
    assert trained < initial, (initial, trained)
