"""``ODEBlock``: a residual network block that is N steps of an integrator on dY/dt = f(Y, θ(t)).

    Y_{l+1} = Y_l + h Σ_i b_i f(Y_l^{(i)}, θ(t_l + c_i h)),  h = T / N,  l = 0 … N−1

(for a Runge–Kutta method; the two-step leapfrog and Störmer–Verlet step likewise, see
:mod:`resode.integrators`). The weights θ(t) live on their own grid of M intervals (default
M = N, one weight set per step: the classic ResNet), so ``block.steps`` can change after
training. ``memory`` chooses what backpropagation keeps (:mod:`resode.memory`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import replace

import torch
from torch import nn

from ..errors import ResodeError, check_int, check_tensor
from ..integrators import get_integrator
from ..memory import MemoryMode, memory_mode, solve
from .dynamics import DYNAMICS, Dynamics
from .spec import BlockSpec


class ODEBlock(nn.Module):
    """Maps Y0 of shape (batch, width, *spatial) to Y_N of the same shape.

    ``spatial`` is empty for the dense kernel, (L,) for ``conv1d``, (H, W) for ``conv2d``.
    For split dynamics (``hamiltonian``, ``second-order``) the ODE's state is [Y, Z] along
    dim 1 (2·width features or channels), Z starting at 0; input and output are Y alone.

    Args:
        width: number of features (dense) or channels (convolutional) n.
        spec: a :class:`~resode.model.spec.BlockSpec`; default: its defaults.
        **options: fields of :class:`~resode.model.spec.BlockSpec` to set or override, e.g.
            ``T=4.0, steps=16, dynamics="hamiltonian", integrator="verlet"``.
    """

    def __init__(self, width: int, spec: BlockSpec | None = None, **options) -> None:
        super().__init__()
        self.width = check_int("width", width)
        spec = BlockSpec.of(spec, **options)
        self._spec = spec
        self.T = float(spec.T)
        self._steps = spec.steps
        self.integrator = get_integrator(spec.integrator)
        self._memory_mode: MemoryMode = memory_mode(spec.memory, self.integrator)
        self.dynamics: Dynamics = DYNAMICS[spec.dynamics](self.width, spec)
        self.image_size: tuple[int, ...] = ()
        """The spatial size of the last input (() for vectors): a convolution's norm needs it."""

    @property
    def spec(self) -> BlockSpec:
        """The block as it is now (steps, memory and weight grid included): ``ODEBlock(width,
        block.spec)`` builds a block of the same shape."""
        return replace(
            self._spec, steps=self._steps, memory=self.memory, grid=self.dynamics.weight.intervals
        )

    @property
    def dynamics_name(self) -> str:
        return self._spec.dynamics

    @property
    def memory(self) -> str:
        """``store``, ``checkpoint``, ``reversible`` or ``adjoint``; settable (validated for the
        integrator and resolved to its :class:`~resode.memory.MemoryMode` once, here)."""
        return self._memory_mode.name

    @memory.setter
    def memory(self, value: str) -> None:
        self._memory_mode = memory_mode(value, self.integrator)

    @property
    def steps(self) -> int:
        """Number of integration steps N; change it to evaluate the same θ(t) at another depth."""
        return self._steps

    @steps.setter
    def steps(self, value: int) -> None:
        value = check_int("steps", value)
        if value != self._steps and not self.integrator.discretizes_ode:
            raise ResodeError(
                f"a plain network has one weight set per layer and no step size: its depth "
                f"{self._steps} cannot change to {value} (residual networks can)"
            )
        self._steps = value

    @property
    def h(self) -> float:
        """Step size T / N."""
        return self.T / self._steps

    @property
    def stage_offsets(self) -> tuple[float, ...]:
        return self.integrator.stage_offsets

    def _check_input(self, y0: torch.Tensor) -> None:
        spatial = self.dynamics.kernel.spatial_dims

        def shape(got: tuple[int, ...]) -> str | None:
            if len(got) == 2 + spatial and got[1] == self.width:
                return None
            expected = ", ".join(["batch", str(self.width)] + ["L", "H, W"][spatial - 1 : spatial])
            return f"ODEBlock expects input of shape ({expected}), got {got}"

        check_tensor(y0, "ODEBlock input", shape=shape, like=self.dynamics.weight.values)
        if tuple(y0.shape[2:]) != self.image_size:
            self.image_size = tuple(y0.shape[2:])

    def forward(self, y0: torch.Tensor) -> torch.Tensor:
        self._check_input(y0)
        field = self.dynamics
        plan, grids = field.parameter_plan(
            self._steps, self.stage_offsets, self.integrator.stage_spans, self.image_size
        )
        start = field.lift(y0)
        with self._collecting_statistics():
            state = solve(self._memory_mode, self.integrator, field, start, self.h, plan, grids)
        return field.project(state)

    def _collecting_statistics(self):
        """In training mode with batch normalization: record the running statistics of this
        forward pass (and of no recomputation in the backward pass); else nothing."""
        if self.training and self.dynamics.normalization.running:
            return self.dynamics.statistics.collecting()
        return nullcontext()

    def stage_parameters(self, image_size: tuple[int, ...] | None = None) -> list:
        """The stage parameters of every step, ``[step][stage]``, sampled once, for states of
        spatial size ``image_size`` (default: the last input's)."""
        size = self.image_size if image_size is None else tuple(image_size)
        spans = self.integrator.stage_spans
        return self.dynamics.stage_parameters(self._steps, self.stage_offsets, spans, size)

    def states(self, y0: torch.Tensor) -> Iterator[torch.Tensor]:
        """The states after steps 1, 2, …, N one at a time (for monitoring, with autograd).

        A state is Y_l of shape (batch, width, …); for split dynamics it is [Y_l, Z_l]
        along dim 1 (Z at the half step l − 1/2 with ``verlet``).
        """
        return self.states_from(self.initial_state(y0))

    def states_from(self, state: torch.Tensor) -> Iterator[torch.Tensor]:
        """:meth:`states` from the ODE's state at t = 0 (as :meth:`initial_state` gives it)."""
        steps = self.stage_parameters()
        start = self.integrator.initial(self.dynamics, state, self.h, steps[0])
        for carry in self.integrator.iterate(self.dynamics, start, self.h, steps):
            yield self.integrator.current(carry)

    def initial_state(self, y0: torch.Tensor) -> torch.Tensor:
        """The ODE's state at t = 0 for the input ``y0`` (Y0, or [Y0, 0] for split dynamics)."""
        self._check_input(y0)
        return self.dynamics.lift(y0)

    def trajectory(self, y0: torch.Tensor) -> torch.Tensor:
        """All states at steps 0 … N, shape (steps + 1, batch, state width, …)."""
        start = self.initial_state(y0)
        return torch.stack([start, *self.states_from(start)])

    def extra_repr(self) -> str:
        return (
            f"width={self.width}, T={self.T:g}, steps={self._steps}, "
            f"dynamics={self.dynamics_name}, integrator={self.integrator.name}"
            + (f", memory={self.memory}" if self.memory != "store" else "")
        )
