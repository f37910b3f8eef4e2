"""Generated datasets: seeded, balanced, labelled as defined."""

import numpy as np
import pytest
import torch

from resode import ResodeError
from resode.data import DATASETS, load_dataset
from resode.data.synthetic import peaks, peaks_class


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_seeded_and_split(name):
    a = load_dataset(name, seed=3, sizes=(200, 50, 60))
    b = load_dataset(name, seed=3, sizes=(200, 50, 60))
    c = load_dataset(name, seed=4, sizes=(200, 50, 60))
    assert a.x_train.shape == (200, 2) and a.x_val.shape == (50, 2) and a.x_test.shape == (60, 2)
    torch.testing.assert_close(a.x_test, b.x_test)
    assert not torch.equal(a.x_train, c.x_train)
    counts = torch.bincount(torch.cat([a.y_train, a.y_val, a.y_test]))
    assert len(counts) == a.num_classes and int(counts.max() - counts.min()) <= 1
    assert a.x_train.dtype == torch.float32 and torch.isfinite(a.x_train).all()


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


def test_unknown_dataset():
    with pytest.raises(
        ResodeError,
        match="unknown dataset 'mnist'; choose one of: circles, ellipses, peaks, spirals",
    ):
        load_dataset("mnist")
