"""Figures name the classes of a dataset by their names."""

import pytest

from resode import ConvResNet, ResNet, plots
from resode.data import class_names, load_dataset


@pytest.fixture
def figures(monkeypatch):
    """The figures the plot functions make, instead of writing them."""
    made = []
    monkeypatch.setattr(plots, "save_figure", lambda figure, path: made.append(figure))
    return made


def test_the_segmentation_colour_bar_names_the_classes(figures, tmp_path):
    dataset = load_dataset("shapes", sizes=(4, 4, 4), size=16)
    model = ConvResNet(1, [4], 5, task="segmentation", steps=1)
    plots.plot_segmentation(model, dataset, tmp_path / "segmentation.png")
    bar = figures[0].axes[-1]  # the colour bar's axes come last
    ticks = [label.get_text() for label in bar.get_yticklabels()]
    assert ticks == list(class_names("shapes"))


def test_the_boundary_legend_names_the_classes(figures, tmp_path):
    dataset = load_dataset("peaks", sizes=(20, 20, 20))
    plots.plot_decision_boundary(ResNet(2, 4, 5, steps=1), dataset, tmp_path / "b.png", 20)
    legend = figures[0].axes[0].get_legend()
    assert [text.get_text() for text in legend.get_texts()] == list(class_names("peaks"))


def test_a_dataset_without_names_shows_the_label_numbers():
    dataset = load_dataset("peaks", sizes=(20, 20, 20))
    dataset.name, dataset.class_names = "my data", ()
    assert plots.class_labels(dataset) == ["0", "1", "2", "3", "4"]
