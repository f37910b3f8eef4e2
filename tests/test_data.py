"""Datasets: seeded, split, shaped and typed as documented; bundled sets split as documented."""

import dataclasses
import random
import socket

import numpy as np
import pytest
import torch

from resode import ResodeError
from resode.data import DATASETS, class_names, dataset_kind, dataset_task, load_dataset
from resode.data.bundled import _mnist1d_arrays
from resode.data.synthetic import peaks, peaks_class

POINT_SETS = ("circles", "ellipses", "peaks", "spirals")

# name: task, kind, input shape, num_classes, out_features, default sizes
EXPECTED = {
    "peaks": ("classification", "vector", (2,), 5, 5, (5000, 1000, 2000)),
    "ellipses": ("classification", "vector", (2,), 2, 2, (1000, 250, 500)),
    "spirals": ("classification", "vector", (2,), 2, 2, (1000, 250, 500)),
    "circles": ("classification", "vector", (2,), 2, 2, (1000, 250, 500)),
    "peaks-regression": ("regression", "vector", (2,), 0, 1, (4000, 1000, 1000)),
    "diabetes": ("regression", "vector", (10,), 0, 1, (310, 66, 66)),
    "digits": ("classification", "image", (1, 8, 8), 10, 10, (1257, 180, 360)),
    "mnist1d": ("classification", "signal", (1, 40), 10, 10, (4000, 500, 1000)),
    "shapes": ("segmentation", "image", (1, 32, 32), 5, 5, (2000, 200, 400)),
    "bars": ("segmentation", "image", (3, 32, 32), 4, 4, (2000, 200, 400)),
}
SMALL = (40, 10, 12)
STANDARD = {  # read from files (tests/test_data_standard.py): registered, not loaded here
    "mnist": ("classification", "image", (1, 28, 28), 10, 10, (55000, 5000, 10000)),
    "fashion-mnist": ("classification", "image", (1, 28, 28), 10, 10, (55000, 5000, 10000)),
    "cifar10": ("classification", "image", (3, 32, 32), 10, 10, (45000, 5000, 10000)),
    "cifar100": ("classification", "image", (3, 32, 32), 100, 100, (45000, 5000, 10000)),
}


def test_registry_lists_every_dataset_with_its_task_kind_and_sizes():
    assert set(DATASETS) == set(EXPECTED) | set(STANDARD)
    for name, (task, kind, _, classes, _, sizes) in {**EXPECTED, **STANDARD}.items():
        spec = DATASETS[name]
        assert (spec.task, spec.kind, spec.num_classes, spec.sizes) == (task, kind, classes, sizes)
        assert (dataset_task(name), dataset_kind(name)) == (task, kind)
        assert len(class_names(name)) == classes


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_dataset_is_seeded_shaped_and_typed(name):
    task, kind, input_shape, classes, outputs, _ = EXPECTED[name]
    a = load_dataset(name, seed=3, sizes=SMALL)
    b = load_dataset(name, seed=3, sizes=SMALL)
    c = load_dataset(name, seed=4, sizes=SMALL)
    assert (a.task, a.kind, a.num_classes, a.input_shape) == (task, kind, classes, input_shape)
    assert a.in_features == input_shape[0] and a.out_features == outputs
    for split, count in zip(("train", "val", "test"), SMALL):
        x, y = a.split(split)
        x_again, y_again = b.split(split)
        assert torch.equal(x, x_again) and torch.equal(y, y_again)
        assert x.shape == (count, *input_shape) and x.dtype == torch.float32
        assert bool(torch.isfinite(x).all())
        if task == "regression":
            assert y.shape == (count, 1) and y.dtype == torch.float32
        else:
            label_shape = (count, *input_shape[1:]) if task == "segmentation" else (count,)
            assert y.shape == label_shape and y.dtype == torch.int64
            assert 0 <= int(y.min()) and int(y.max()) < classes
    assert not torch.equal(a.x_train, c.x_train)


@pytest.mark.parametrize("name", ["peaks", "diabetes", "shapes"])
def test_to_keeps_labels_integer_and_casts_regression_targets(name):
    data = load_dataset(name, sizes=(20, 5, 5)).to("cpu", torch.float64)
    assert data.x_train.dtype == torch.float64 and data.kind == DATASETS[name].kind
    expected = torch.float64 if data.task == "regression" else torch.int64
    assert data.y_train.dtype == data.y_test.dtype == expected


def test_task_and_kind_are_known_without_generating(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("generated")

    monkeypatch.setitem(DATASETS, "shapes", dataclasses.replace(DATASETS["shapes"], build=refuse))
    assert dataset_task("shapes") == "segmentation" and dataset_kind("shapes") == "image"
    assert class_names("shapes")[1:] == ("disk", "ellipse", "rectangle", "triangle")
    with pytest.raises(ResodeError, match="unknown dataset 'imagenet'"):
        dataset_task("imagenet")


@pytest.mark.parametrize("name", POINT_SETS)
def test_point_sets_are_balanced(name):
    a = load_dataset(name, seed=3, sizes=(200, 50, 60))
    assert a.x_train.shape == (200, 2) and a.x_val.shape == (50, 2) and a.x_test.shape == (60, 2)
    counts = torch.bincount(torch.cat([a.y_train, a.y_val, a.y_test]))
    assert len(counts) == a.num_classes and int(counts.max() - counts.min()) <= 1


def test_peaks_labels_are_equal_width_level_bands():
    data = load_dataset("peaks", seed=0, sizes=(500, 10, 10))
    x = data.x_train.double().numpy()
    np.testing.assert_array_equal(peaks_class(x), data.y_train.numpy())
    assert np.abs(x).max() <= 3.0
    # spot values of the surface
    assert peaks(np.array(0.0), np.array(0.0)) == pytest.approx(3 * np.exp(-1) - np.exp(-1) / 3)


def test_ellipses_geometry():
    data = load_dataset("ellipses", seed=0, sizes=(400, 10, 10))
    x = data.x_train.double()
    r = torch.sqrt(x[:, 0] ** 2 + (x[:, 1] / 0.4) ** 2)
    assert bool((r[data.y_train == 0] <= 1 + 1e-6).all())
    assert bool(((r[data.y_train == 1] >= 1 - 1e-6) & (r[data.y_train == 1] <= 2 + 1e-6)).all())


def test_peaks_regression_targets_are_the_surface():
    data = load_dataset("peaks-regression", seed=1, sizes=(2000, 10, 10))
    x = data.x_train.double().numpy()
    assert np.abs(x).max() <= 3.0 and x.min() < -2.9 and x.max() > 2.9
    expected = peaks(x[:, 0], x[:, 1])[:, None]
    np.testing.assert_allclose(data.y_train.numpy(), expected, rtol=1e-5, atol=1e-5)
    assert data.y_train.min() < -4 and data.y_train.max() > 5  # raw values, not standardized


def test_diabetes_is_standardized_with_train_statistics():
    from sklearn.datasets import load_diabetes

    raw = load_diabetes(scaled=False).target
    data = load_dataset("diabetes", seed=2)
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (310, 66, 66)
    for values in (data.x_train, data.y_train):
        torch.testing.assert_close(values.mean(0), torch.zeros(values.shape[1]), atol=1e-5, rtol=0)
        torch.testing.assert_close(
            values.std(0, unbiased=False), torch.ones(values.shape[1]), atol=1e-5, rtol=0
        )
    mean, std = data.target_scale
    assert mean != pytest.approx(raw.mean(), abs=0.01)  # train mean, not the mean of all 442
    original = torch.cat([data.y_train, data.y_val, data.y_test]).double() * std + mean
    np.testing.assert_allclose(np.sort(original.numpy()[:, 0]), np.sort(raw), atol=1e-3)
    assert abs(float(data.y_val.mean())) > 1e-3  # val is scaled with train statistics


def test_digits_scaled_and_split_stratified():
    from sklearn.datasets import load_digits

    labels = load_digits().target
    data = load_dataset("digits", seed=5)
    everything = torch.cat([data.x_train, data.x_val, data.x_test])
    assert float(everything.min()) == 0.0 and float(everything.max()) == 1.0
    torch.testing.assert_close(everything * 16, torch.round(everything * 16))
    all_labels = torch.cat([data.y_train, data.y_val, data.y_test]).numpy()
    np.testing.assert_array_equal(np.bincount(all_labels), np.bincount(labels))
    share = np.bincount(labels) / len(labels)
    for y in (data.y_train, data.y_val, data.y_test):
        assert np.abs(np.bincount(y.numpy(), minlength=10) - share * len(y)).max() <= 1.0
    assert not torch.equal(data.x_test, load_dataset("digits", seed=6).x_test)


def test_mnist1d_sizes_and_cache():
    before = _mnist1d_arrays.cache_info().hits
    data = load_dataset("mnist1d")
    assert (data.x_train.shape, data.x_val.shape, data.x_test.shape) == (
        (4000, 1, 40),
        (500, 1, 40),
        (1000, 1, 40),
    )
    assert len(torch.unique(data.y_test)) == 10
    again = load_dataset("mnist1d")
    assert _mnist1d_arrays.cache_info().hits == before + 1
    assert torch.equal(again.x_val, data.x_val)


def test_mnist1d_uses_no_network_files_or_global_rng(monkeypatch, tmp_path):
    def refuse(*args, **kwargs):
        raise AssertionError("network access")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.chdir(tmp_path)
    np.random.seed(123)
    random.seed(123)
    expected = (np.random.random(), random.random())
    np.random.seed(123)
    random.seed(123)
    misses = _mnist1d_arrays.cache_info().misses
    load_dataset("mnist1d", seed=987, sizes=(30, 10, 10))
    assert _mnist1d_arrays.cache_info().misses == misses + 1  # it really generated
    assert (np.random.random(), random.random()) == expected
    assert list(tmp_path.iterdir()) == []


def one_line_error(call, match):
    with pytest.raises(ResodeError, match=match) as caught:
        call()
    assert "\n" not in str(caught.value)


def test_bad_options_and_sizes_raise_one_line_errors():
    one_line_error(lambda: load_dataset("shapes", colour=1), "unknown option 'colour' .*size")
    one_line_error(lambda: load_dataset("peaks", size=32), "dataset 'peaks'; allowed: none")
    one_line_error(lambda: load_dataset("bars", size=8), r"size must be an integer in \[16, 256\]")
    one_line_error(lambda: load_dataset("shapes", size="32"), "size must be an integer")
    one_line_error(lambda: load_dataset("digits", sizes=(1500, 200, 200)), "has 1797 .* 1900")
    one_line_error(lambda: load_dataset("diabetes", sizes=(400, 30, 30)), "has 442 examples")
    one_line_error(lambda: load_dataset("peaks", sizes=(10, 10)), "sizes must be")
    one_line_error(lambda: load_dataset("peaks", sizes=(10, 0, 10)), "val size")
    one_line_error(lambda: load_dataset("peaks", seed=-1), "seed must be")


def test_size_option_sets_the_image_side():
    data = load_dataset("shapes", sizes=(6, 2, 2), size=20)
    assert data.input_shape == (1, 20, 20) and data.y_val.shape == (2, 20, 20)
    assert load_dataset("bars", sizes=(6, 2, 2), size=48).input_shape == (3, 48, 48)


def test_unknown_dataset():
    with pytest.raises(
        ResodeError,
        match="unknown dataset 'imagenet'; choose one of: bars, cifar10, cifar100, circles, "
        "diabetes, digits, ellipses, fashion-mnist, mnist, mnist1d, peaks, peaks-regression, "
        "shapes, spirals",
    ):
        load_dataset("imagenet")
