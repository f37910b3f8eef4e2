"""Recipes: a tuned TOML file per built-in dataset behind ``--data``, ``--config FILE`` and the
``config.toml`` every run writes."""

import json
from dataclasses import fields, replace

import pytest

from resode.cli import main
from resode.data import DATASETS
from resode.training.config import TrainConfig
from resode.training.config_file import config_toml, read_config_file
from resode.training.recipes import auto_recipes, compose_config, recipe, recipes
from resode.training.state import read_config


@pytest.fixture
def captured(monkeypatch):
    """The TrainConfig `resode train` would train, recorded instead of training."""
    import resode.training.loop as loop

    seen = []

    def record(config, out, **kwargs):
        seen.append(config)
        return {}

    monkeypatch.setattr(loop, "train", record)
    return seen


def _train_config(captured, tmp_path, *flags: str) -> TrainConfig:
    assert main(["train", *flags, "--out", str(tmp_path / "run"), "--quiet"]) == 0
    return captured[-1]


@pytest.mark.parametrize("name", list(DATASETS))
def test_every_dataset_has_a_recipe_that_is_a_valid_config(name):
    shipped = recipe(name)
    config = shipped.config()
    assert config.data == name
    assert set(shipped.settings) <= {item.name for item in fields(TrainConfig)}
    assert shipped.description
    if shipped.measured is not None:  # measured: the dataset's headline metric, a time
        assert shipped.measured["metric"].startswith("test_")
        assert 0 < shipped.measured["value"] <= 1 and shipped.measured["seconds"] > 0


def test_the_peaks_recipe_is_the_main_job():
    assert recipe("peaks").config() == TrainConfig()


def test_data_digits_takes_its_recipe_and_a_flag_overrides_one_field(captured, tmp_path):
    config = _train_config(captured, tmp_path, "--data", "digits")
    assert config == recipe("digits").config()
    assert (config.widths, config.steps, config.T, config.lr) == ([16, 32], 4, 2.0, 0.005)
    assert config != TrainConfig(data="digits")  # not the global defaults
    changed = _train_config(captured, tmp_path, "--data", "digits", "--epochs", "3", "--force")
    assert changed == replace(config, epochs=3)


def test_train_without_flags_is_the_default_config(captured, tmp_path):
    assert _train_config(captured, tmp_path) == TrainConfig()


def test_flags_that_belong_together_replace_the_recipes_fields(captured, tmp_path):
    deeper = _train_config(captured, tmp_path, "--data", "digits", "--multilevel", "2,4")
    assert deeper.multilevel == [2, 4] and deeper.steps == 4 and deeper.lr == 0.005
    resnet = _train_config(captured, tmp_path, "--data", "digits", "--network", "resnet", "--force")
    assert resnet.network == "resnet" and resnet.widths == [16, 32]


CONFIGS = [
    TrainConfig(),
    TrainConfig(data="digits", widths=[4, 8], steps=[2, 3], lr=1e-4, dtype="float64"),
    TrainConfig(data="circles", multilevel=[2, 4], max_seconds=2.5, varpro=True, grid=2),
    TrainConfig(data="bars", widths=[4], image_size=16, task="segmentation", weight_decay=1e-5),
    *(shipped.config() for shipped in recipes().values()),
]


@pytest.mark.parametrize("config", CONFIGS, ids=range(len(CONFIGS)))
def test_a_config_written_as_toml_reads_back_equal(config, tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(config_toml(config, "a comment"))
    assert compose_config({}, path) == config
    assert TrainConfig(**read_config_file(path)).to_dict() == config.to_dict()


def test_a_runs_config_toml_reproduces_the_run(tmp_path):
    flags = ["--data", "circles", "--epochs", "2", "--steps", "3", "--width", "5", "--quiet"]
    first, second = tmp_path / "first", tmp_path / "second"
    assert main(["train", *flags, "--lr", "0.02", "--seed", "3", "--out", str(first)]) == 0
    assert compose_config({}, first / "config.toml") == read_config(first)
    assert main(["train", "--config", str(first / "config.toml"), "--out", str(second)]) == 0
    assert read_config(second) == read_config(first)
    metrics = [json.loads((run / "metrics.json").read_text()) for run in (first, second)]
    assert metrics[0]["test_accuracy"] == metrics[1]["test_accuracy"]
    assert metrics[0]["test_loss"] == metrics[1]["test_loss"]


def test_flags_beside_config_override_it(captured, tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('data = "digits"\nwidths = [8]\nsteps = 2\nepochs = 5\n')
    config = _train_config(captured, tmp_path, "--config", str(path), "--epochs", "7")
    assert config == TrainConfig(data="digits", widths=[8], steps=2, epochs=7)


@pytest.mark.parametrize(
    "text, message",
    [
        ("epochs = = 3\n", "is not valid TOML"),
        ("epochs = 3\nlearning_rate = 0.1\n", "unknown setting(s) learning_rate"),
        ("[training]\nepochs = 3\n", "unknown setting(s) training"),
        ('epochs = "many"\n', "mine.toml: "),
    ],
)
def test_a_bad_config_file_is_one_line_and_exit_2(text, message, tmp_path, capsys, captured):
    path = tmp_path / "mine.toml"
    path.write_text(text)
    assert main(["train", "--config", str(path), "--out", str(tmp_path / "run")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("resode: error: ") and message in error
    assert error.count("\n") == 1
    assert not captured and not (tmp_path / "run").exists()


def test_a_missing_config_file_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["train", "--config", str(tmp_path / "none.toml")]) == 2
    assert "no configuration file" in capsys.readouterr().err


def test_recipes_lists_every_dataset_with_its_result(capsys):
    assert main(["recipes"]) == 0
    listed = capsys.readouterr().out
    for name, shipped in recipes().items():
        assert f"{name} " in listed and shipped.summary() in listed
        assert shipped.result() in listed
    assert "test accuracy 0.9944 in 30 s" in listed  # digits, as measured
    assert main(["recipes", "--markdown"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| `")]
    assert len(rows) == len(recipes()) + len(auto_recipes())  # datasets', paper, automatic
    assert set(DATASETS) <= set(recipes())


def test_recipes_name_prints_a_file_that_trains_as_the_recipe(capsys, tmp_path):
    assert main(["recipes", "mnist1d"]) == 0
    path = tmp_path / "mnist1d.toml"
    path.write_text(capsys.readouterr().out)
    assert compose_config({}, path) == recipe("mnist1d").config()
    assert main(["recipes", "nope"]) == 2
