"""Starting settings of a user's own data: the class of its kind and size picks an ``auto-``
recipe, said once, overridden by any flag, never picked again on ``--resume``."""

import numpy as np
import pytest

from resode.cli import main
from resode.data.sources import describe_source
from resode.training.config import TrainConfig
from resode.training.recipes import auto_recipe, auto_recipes, recipe
from resode.training.recipes.auto import data_class, fit_units
from resode.training.state import read_config


@pytest.fixture
def captured(monkeypatch):
    """The TrainConfig `resode train` would train, recorded instead of training."""
    import resode.training.loop as loop

    seen = []
    monkeypatch.setattr(loop, "train", lambda config, out, **kwargs: seen.append(config) or {})
    return seen


def _table(path, rows, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 4))
    lines = ["a,b,c,d,label", *(",".join(f"{v:.4f}" for v in r) + f",{int(r[0] > 0)}" for r in x)]
    path.write_text("\n".join(lines) + "\n")
    return f"csv:{path}"


def _pictures(folder, side=8, count=5):
    from PIL import Image

    rng = np.random.default_rng(0)
    for name, low in (("dark", 0), ("light", 150)):
        (folder / name).mkdir(parents=True)
        for i in range(count):
            pixels = rng.integers(low, low + 100, (side, side)).astype(np.uint8)
            Image.fromarray(pixels).save(folder / name / f"{i}.png")
    return f"folder:{folder}"


def _large_npz(path):
    rng = np.random.default_rng(0)
    np.savez(path, x=rng.normal(size=(3000, 3)), y=rng.integers(0, 2, 3000))
    return f"npz:{path}"


def test_the_class_follows_the_kind_and_size():
    assert data_class("vector", 1999, (13,)).name == "small-table"
    assert data_class("vector", 2000, (13,)).name == "large-table"
    assert data_class("image", 60000, (1, 28, 28)).name == "small-images"
    assert data_class("image", 499, (3, 224, 224)).name == "small-images"
    assert data_class("image", 500, (3, 33, 32)).name == "large-images"
    assert data_class("signal", 10, (1, 40)).name == "signals"
    assert data_class("vector", 303, (13,)).reason == "small table (303 rows, 13 features)"
    # every class has its recipe, a valid configuration for data of its kind
    names = {f"auto-{data_class(*case).name}" for case in [
        ("vector", 1, (1,)), ("vector", 10**4, (1,)), ("signal", 1, (1, 4)),
        ("image", 1, (1, 8, 8)), ("image", 10**4, (1, 64, 64)),
    ]}  # fmt: skip
    assert names == set(auto_recipes())
    for name in names:
        shipped = recipe(name)
        assert "data" not in shipped.settings and shipped.description and shipped.measured
        assert shipped.config().data in ("peaks", "mnist1d", "digits")  # checked on its kind


@pytest.mark.parametrize(
    "make, chosen, reason",
    [
        (lambda p: _table(p / "t.csv", 50), "small-table", "small table (50 rows, 4 features)"),
        (lambda p: _large_npz(p / "t.npz"), "large-table", "large table (3000 rows, 3 features"),
        (lambda p: _pictures(p / "f"), "small-images", "small images (10 images of 1×8×8"),
    ],
    ids=["small-table", "large-table", "small-images"],
)
def test_a_users_data_starts_from_its_class_said_once(make, chosen, reason, tmp_path, captured,
                                                      capsys):  # fmt: skip
    data = make(tmp_path)
    target = ["--target", "label"] if data.startswith("csv:") else []
    assert main(["train", "--data", data, *target, "--out", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert out.count(reason) == 1 and out.count(f"settings auto-{chosen}") == 1
    assert "(given:" not in out
    settings = recipe(f"auto-{chosen}").settings
    assert {k: getattr(captured[-1], k) for k in settings} == settings
    # a flag overrides its field only, and the line says so
    flags = ["--epochs", "2", "--out", str(tmp_path / "other")]
    assert main(["train", "--data", data, *target, *flags]) == 0
    assert "a flag overrides its setting (given: --epochs)" in capsys.readouterr().out
    assert captured[-1].epochs == 2
    assert {k: getattr(captured[-1], k) for k in settings if k != "epochs"} == {
        k: v for k, v in settings.items() if k != "epochs"
    }


def test_a_recipe_or_config_given_is_not_replaced(tmp_path, captured, capsys):
    data = _table(tmp_path / "t.csv", 50)
    flags = ["--data", data, "--target", "label", "--recipe", "auto-large-table"]
    assert main(["train", *flags, "--out", str(tmp_path / "run")]) == 0
    assert captured[-1].width == recipe("auto-large-table").settings["width"]
    assert "settings auto-" not in capsys.readouterr().out
    (tmp_path / "empty.toml").write_text("")
    flags = ["--data", data, "--target", "label", "--config", str(tmp_path / "empty.toml")]
    assert main(["train", *flags, "--out", str(tmp_path / "other")]) == 0
    assert captured[-1].epochs == TrainConfig().epochs


def test_resume_keeps_the_stored_settings(tmp_path, capsys, monkeypatch):
    import resode.training.recipes as recipes_module

    data = _table(tmp_path / "t.csv", 50)
    run = tmp_path / "run"
    flags = ["--data", data, "--target", "label", "--epochs", "1", "--quiet"]
    assert main(["train", *flags, "--out", str(run)]) == 0
    assert "settings auto-small-table" in capsys.readouterr().out
    stored = read_config(run).to_dict()
    assert stored["width"] == recipe("auto-small-table").settings["width"]

    def picked(*args, **kwargs):
        raise AssertionError("the automatic recipe was picked again")

    monkeypatch.setattr(recipes_module, "auto_recipe", picked)
    assert main(["train", "--resume", str(run), "--epochs", "2", "--quiet"]) == 0
    assert "settings auto-" not in capsys.readouterr().out
    assert read_config(run).to_dict() == {**stored, "epochs": 2}


def test_describe_source_counts_every_split_and_the_input_shape(tmp_path):
    data = describe_source(_pictures(tmp_path / "f", side=6, count=3))
    assert (data.count, data.input_shape, data.kind) == (6, (1, 6, 6), "image")
    assert auto_recipe(f"folder:{tmp_path / 'f'}").recipe.name == "auto-small-images"


def test_widths_of_another_length_take_the_last_of_the_per_unit_steps(tmp_path, captured):
    data = _pictures(tmp_path / "f")
    assert recipe("auto-small-images").settings["steps"] == [1, 2, 2]
    assert main(["train", "--data", data, "--widths", "4,6", "--out", str(tmp_path / "a")]) == 0
    assert (captured[-1].widths, captured[-1].steps) == ([4, 6], 2)
    assert main(["train", "--data", data, "--widths", "4,4,4", "--out", str(tmp_path / "b")]) == 0
    assert captured[-1].steps == [1, 2, 2]


def test_inputs_that_halve_fewer_times_keep_the_first_units_that_fit(tmp_path, captured, capsys):
    images = recipe("auto-small-images").settings  # widths 8,16,32: sides halved twice
    assert fit_units(images, (1, 28, 28)) == (images, "")
    fitted, note = fit_units(images, (3, 30, 30))
    assert (fitted["widths"], fitted["steps"]) == ([8, 16], [1, 2])
    assert note == " (30×30 halves once: 2 of its 3 units)"
    assert fit_units(recipe("auto-signals").settings, (2, 41))[0]["widths"] == [16]
    assert fit_units(recipe("auto-small-table").settings, (5,))[1] == ""
    data = _pictures(tmp_path / "f", side=6)  # 6×6 halves once: 2 units
    assert main(["train", "--data", data, "--out", str(tmp_path / "run")]) == 0
    assert (captured[-1].widths, captured[-1].steps) == ([8, 16], [1, 2])
    assert "settings auto-small-images (6×6 halves once: 2 of its 3 units): " in (
        capsys.readouterr().out
    )
