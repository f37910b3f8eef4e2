"""Gradients through depth: how ‖∂E/∂Y_l‖ and ‖∂E/∂θ_l‖ change from the last layer to the first.

For a loss E on a batch, backpropagation hands ∂E/∂Y_l from layer to layer, multiplying by
the transposed step map each time. In a plain network Y_{l+1} = σ(K_l Y_l + b_l) that map is
diag(σ')K_l, and its product over many layers makes the gradient vanish or explode
geometrically; a residual step Y + h f(Y) maps by I + h J, which stays close to the identity,
so the gradient reaches the first layers (and for stable dynamics neither grows nor decays).

``depth_gradients`` measures this on any network: the states of every unit are recomputed
through the one step loop with autograd (a forward hook replaces each unit's output by the
same value computed from its recorded states), so the gradient of E with respect to every
state Y_l and every weight set θ_k (row k of the unit's weight grid) comes out of one backward
pass. Norms are Frobenius norms over the whole batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..model.block import ODEBlock


@dataclass
class UnitGradients:
    """One unit's gradients: ‖∂E/∂Y_l‖ for l = 0 … N and ‖∂E/∂θ_k‖ for the grid rows k."""

    state: list[float]
    weight: list[float]

    @property
    def state_ratio(self) -> float:
        """‖∂E/∂Y_0‖ / ‖∂E/∂Y_N‖: ≪ 1 vanishing, ≫ 1 exploding towards the first layer."""
        return self.state[0] / max(self.state[-1], 1e-300)

    @property
    def weight_ratio(self) -> float:
        """‖∂E/∂θ_first‖ / ‖∂E/∂θ_last‖."""
        return self.weight[0] / max(self.weight[-1], 1e-300)

    def to_dict(self) -> dict:
        return {
            "state_norms": self.state,
            "weight_norms": self.weight,
            "state_ratio_first_last": self.state_ratio,
            "weight_ratio_first_last": self.weight_ratio,
        }


def depth_gradients(model: torch.nn.Module, x: torch.Tensor, target: torch.Tensor, loss) -> list:
    """:class:`UnitGradients` of every ODE unit of ``model`` for ``loss(model(x), target)``."""
    units = [m for m in model.modules() if isinstance(m, ODEBlock)]
    recorded: dict[int, list[torch.Tensor]] = {}

    def record(unit: ODEBlock, inputs, output):
        start = unit.initial_state(inputs[0])
        states = [start, *unit.states_from(start)]
        for state in states:
            state.retain_grad()
        recorded[id(unit)] = states
        return unit.dynamics.project(states[-1])

    hooks = [unit.register_forward_hook(record) for unit in units]
    try:
        with torch.enable_grad():
            model.zero_grad(set_to_none=True)
            loss(model(x), target).backward()
    finally:
        for hook in hooks:
            hook.remove()
    return [_unit_gradients(unit, recorded[id(unit)]) for unit in units]


def _unit_gradients(unit: ODEBlock, states: list[torch.Tensor]) -> UnitGradients:
    state = [float(s.grad.norm()) if s.grad is not None else 0.0 for s in states]
    grid = unit.dynamics.weight.values.grad
    rows = grid.flatten(1).norm(dim=1) if grid is not None else torch.zeros(1)
    return UnitGradients(state, [float(v) for v in rows])
