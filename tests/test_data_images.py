"""Generated segmentation images: shapes are what their labels say; bars carry their cap's class."""

import numpy as np
import pytest
from scipy import ndimage

from resode.data import load_dataset
from resode.data.images import draw_shapes


@pytest.fixture(scope="module")
def shapes():
    return draw_shapes(300, np.random.default_rng(0))


@pytest.fixture(scope="module")
def bars():
    data = load_dataset("bars", seed=1, sizes=(150, 10, 10))
    return data.x_train.numpy(), data.y_train.numpy()


def test_every_image_has_one_to_four_visible_shapes(shapes):
    x, labels, counts = shapes
    assert x.shape == (300, 1, 32, 32) and labels.shape == (300, 32, 32)
    assert counts.min() == 1 and counts.max() == 4 and set(np.unique(counts)) == {1, 2, 3, 4}
    for image_labels, count in zip(labels, counts):
        present = set(np.unique(image_labels)) - {0}
        assert 1 <= len(present) <= count
    assert set(np.unique(labels)) == {0, 1, 2, 3, 4}
    share = np.bincount(labels.ravel()) / labels.size
    assert share[0] > 0.5 and share[1:].min() > 0.02


def _single_shape_images(shapes, kind):
    x, labels, counts = shapes
    for image, image_labels, count in zip(x[:, 0], labels, counts):
        if count == 1 and image_labels.max() == kind:
            yield image, image_labels == kind


def _axis_ratio(mask):
    """Ratio of the principal standard deviations of a pixel set (1 for a disk)."""
    points = np.argwhere(mask).astype(float)
    eigenvalues = np.linalg.eigvalsh(np.cov(points.T))
    return np.sqrt(eigenvalues[1] / eigenvalues[0])


def test_disks_are_round_and_ellipses_elongated(shapes):
    disks = [_axis_ratio(mask) for _, mask in _single_shape_images(shapes, 1)]
    ellipses = [_axis_ratio(mask) for _, mask in _single_shape_images(shapes, 2)]
    assert len(disks) >= 5 and len(ellipses) >= 5
    assert max(disks) < 1.15 and min(ellipses) > 1.5
    radii = [np.sqrt(mask.sum() / np.pi) for _, mask in _single_shape_images(shapes, 1)]
    assert 3.5 <= min(radii) and max(radii) <= 8.5


def test_shapes_stand_out_but_brightness_does_not_tell_the_class(shapes):
    x, labels, _ = shapes
    for image, mask in _single_shape_images(shapes, 3):
        ring = ndimage.binary_dilation(mask, iterations=3) & ~mask
        assert abs(image[mask].mean() - image[ring].mean()) > 0.2
    brighter = {kind: [] for kind in range(1, 5)}
    for kind in brighter:
        for image, mask in _single_shape_images(shapes, kind):
            ring = ndimage.binary_dilation(mask, iterations=3) & ~mask
            brighter[kind].append(image[mask].mean() > image[ring].mean())
    for kind, signs in brighter.items():
        assert 0.2 < np.mean(signs) < 0.8, kind


def test_every_bar_pixel_carries_its_cap_colour(bars):
    x, labels = bars
    saturated = x.max(1) - x.min(1) > 0.5  # cap pixels: one channel high, the others low
    for image, image_labels, caps in zip(x, labels, saturated):
        components, count = ndimage.label(image_labels > 0)
        assert 2 <= count <= 4
        assert image[:, image_labels == 0].max() < 0.4  # dark background
        assert caps[image_labels == 0].sum() == 0
        for index in range(1, count + 1):
            bar = components == index
            rows, cols = np.nonzero(bar)
            height, width = np.ptp(rows) + 1, np.ptp(cols) + 1
            assert min(height, width) == 2 and 12 <= max(height, width) <= 28  # thin
            assert bar.sum() == 2 * max(height, width)  # a solid 2-px-wide rectangle
            assert len(np.unique(image_labels[bar])) == 1
            cap = bar & caps
            assert cap.sum() in (4, 6)
            colour = np.argmax(image[:, cap].mean(1)) + 1
            assert (image_labels[bar] == colour).all()
            along = rows if height > width else cols
            cap_along = np.nonzero(cap)[0] if height > width else np.nonzero(cap)[1]
            at_start = cap_along.max() < along.min() + 3
            at_end = cap_along.min() > along.max() - 3
            assert at_start != at_end  # one end only
            gray = image[:, bar & ~caps]
            assert np.abs(gray - 0.5).max() < 0.2


def test_bar_classes_are_balanced_and_all_present(bars):
    _, labels = bars
    share = np.bincount(labels.ravel(), minlength=4)[1:]
    assert share.min() > 0.25 * share.sum()
