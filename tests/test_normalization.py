"""Normalization inside the dynamics: the registry, each kind's claims checked numerically, and
the one guard of the analyses that need a per-example map."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from resode import BlockSpec, ODEBlock, ResodeError, make_dynamics
from resode.analysis import (
    iterative_spectra,
    log_norms,
    lyapunov_exponents,
    step_map_spectra,
    trajectory_spectra,
)
from resode.model.normalization import NORMALIZATIONS, Normalization, make_normalization

KINDS = sorted(NORMALIZATIONS)
REFUSAL = (
    "^batch normalization couples the examples: no per-example {} to analyse; "
    "use norm instance or none$"
)


def test_the_registry_is_the_norm_setting_and_each_kind_is_named_by_its_key():
    (norm,) = [item for item in dataclasses.fields(BlockSpec) if item.name == "norm"]
    assert sorted(norm.metadata["choices"]) == KINDS == ["batch", "instance", "none"]
    for name, kind in NORMALIZATIONS.items():
        made = make_normalization(name)
        assert isinstance(made, Normalization) and type(made) is kind and made.name == name
        assert made == make_normalization(name)
        assert (made == make_normalization("none")) == (name == "none")
    with pytest.raises(ResodeError, match="unknown normalization 'group'; choose one of: batch"):
        make_normalization("group")


def test_each_kind_is_the_torch_function_it_names():
    z = torch.randn(4, 3, 5, dtype=torch.float64)
    assert torch.equal(make_normalization("none").apply(z), z)
    expected = F.batch_norm(z, None, None, training=True)
    assert torch.equal(make_normalization("batch").apply(z), expected)
    assert torch.equal(make_normalization("instance").apply(z), F.instance_norm(z))


@pytest.mark.parametrize("name", KINDS)
def test_per_example_and_identity_are_true_of_the_map(name):
    """per_example: changing one example leaves the others' N(z) unchanged; identity: N(z) = z."""
    normalization = make_normalization(name)
    z = torch.randn(4, 3, 5, dtype=torch.float64)
    moved = z.clone()
    moved[0] = 10 * moved[0] + 3
    others = normalization.apply(moved)[1:] - normalization.apply(z)[1:]
    assert bool(others.abs().max() < 1e-12) == normalization.per_example
    assert torch.equal(normalization.apply(z), z) == normalization.identity


@pytest.mark.parametrize("name", KINDS)
def test_the_dynamics_resolves_its_norm_once_and_names_it(name):
    dynamics = make_dynamics("standard", 2, T=1.0, intervals=1, kernel="conv1d", norm=name)
    assert dynamics.normalization == make_normalization(name)
    assert ("norm=" in repr(dynamics)) != dynamics.normalization.identity


@pytest.mark.parametrize(
    "analysis, what",
    [
        (trajectory_spectra, "Jacobian"),
        (step_map_spectra, "step map"),
        (iterative_spectra, "Jacobian"),
        (log_norms, "Jacobian"),
        (lyapunov_exponents, "Lyapunov exponents"),
    ],
)
def test_every_per_example_analysis_refuses_batch_norm_in_one_line(analysis, what):
    torch.manual_seed(0)
    y0 = torch.randn(3, 2, 5)
    with pytest.raises(ResodeError, match=REFUSAL.format(what)):
        analysis(ODEBlock(2, steps=2, kernel="conv1d", norm="batch"), y0)
    analysis(ODEBlock(2, steps=2, kernel="conv1d", norm="instance"), y0)  # per example: runs
