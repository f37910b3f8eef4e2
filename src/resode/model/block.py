"""``ODEBlock``: a residual network block that is N steps of an integrator on dY/dt = f(Y, θ(t)).

    Y_{l+1} = Y_l + h Σ_i b_i f(Y_l^{(i)}, θ(t_l + c_i h)),  h = T / N,  l = 0 … N−1

(for a Runge–Kutta method; the two-step leapfrog and Störmer–Verlet step likewise, see
:mod:`resode.integrators`). The weights θ(t) live on their own grid of M intervals (default
M = N, one weight set per step: the classic ResNet), so ``block.steps`` can change after
training. ``memory`` chooses what backpropagation keeps (:mod:`resode.memory`).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

from ..errors import ResodeError, check_choice, check_int, check_positive
from ..gradients import check_memory, solve
from ..integrators import INTEGRATORS, get_integrator
from .dynamics import DYNAMICS, Dynamics, make_dynamics


def check_pairing(dynamics: str, integrator: str) -> None:
    """One-line error where the integrator needs a capability (split, implicit) the dynamics
    lacks; names the dynamics that have it and the integrators that fit."""
    method, cls = get_integrator(integrator), DYNAMICS[check_choice("dynamics", dynamics, DYNAMICS)]
    if method.supports(cls):
        return
    need = method.requires
    having = ", ".join(n for n, c in DYNAMICS.items() if getattr(c, need, False))
    usable = ", ".join(n for n, m in INTEGRATORS.items() if m.supports(cls))
    raise ResodeError(
        f"integrator {integrator!r} needs {need} dynamics ({having}); "
        f"{dynamics!r} is not {need}: use {usable}"
    )


class ODEBlock(nn.Module):
    """Maps Y0 of shape (batch, width, *spatial) to Y_N of the same shape.

    ``spatial`` is empty for the dense kernel, (L,) for ``conv1d``, (H, W) for ``conv2d``.

    Args:
        width: number of features n.
        T: final time; the step size is h = T / steps.
        steps: number of integration steps N (the depth); settable after construction.
        dynamics: ``standard`` σ(KY+b), ``antisymmetric`` σ((K−Kᵀ−γI)Y+b),
            ``parabolic`` −Kᵀσ(KY+b), ``hamiltonian`` (Y' = σ(KZ+b), Z' = −σ(KᵀY+b)),
            ``second-order`` (Y'' = −Kᵀσ(KY+b)); the last two start with Z = 0;
            or ``diffusion-reaction`` (−LY + σ(KY+b), L = MᵀM + εI learned).
        integrator: ``euler``, ``heun``, ``rk3``, ``rk4``, ``leapfrog`` (two-step midpoint),
            ``verlet`` (split dynamics only) or ``imex`` ((I + hL)⁻¹(Y + h σ(KY+b)),
            diffusion-reaction only).
        activation: ``tanh``, ``relu``, ``smooth_relu`` or ``identity``.
        grid: number M of weight intervals over [0, T] (default: ``steps``).
        interp: ``constant`` (M weight sets) or ``linear`` (M + 1 nodes).
        gamma: damping γ ≥ 0 of the antisymmetric dynamics.
        init_std: standard deviation of the initial K (default 1/√fan-in).
        kernel: ``dense`` (width features), ``conv1d`` or ``conv2d`` (width channels).
        kernel_size: odd side length of a convolution kernel.
        norm: ``none``, ``batch`` or ``instance`` normalization of K Y + b inside f.
        memory: ``store`` (autograd), ``checkpoint`` (recompute segments of √N steps) or
            ``reversible`` (rebuild states backward; ``leapfrog`` and ``verlet`` only).
    """

    def __init__(
        self,
        width: int,
        T: float = 1.0,
        steps: int = 8,
        dynamics: str = "antisymmetric",
        integrator: str = "rk4",
        activation: str = "tanh",
        grid: int | None = None,
        interp: str = "constant",
        gamma: float = 0.0,
        init_std: float | None = None,
        kernel: str = "dense",
        kernel_size: int = 3,
        norm: str = "none",
        memory: str = "store",
    ) -> None:
        super().__init__()
        self.width = check_int("width", width)
        self.T = check_positive("T", T)
        self.steps = steps
        self.integrator = get_integrator(integrator)
        intervals = self.steps if grid is None else check_int("grid", grid)
        options = dict(
            interp=interp,
            activation=activation,
            init_std=init_std,
            gamma=gamma,
            kernel=kernel,
            kernel_size=kernel_size,
            norm=norm,
        )
        self.dynamics: Dynamics = make_dynamics(dynamics, self.width, self.T, intervals, **options)
        self.dynamics_name = dynamics
        check_pairing(dynamics, integrator)
        self.memory = memory

    @property
    def memory(self) -> str:
        """``store``, ``checkpoint`` or ``reversible``; settable."""
        return self._memory

    @memory.setter
    def memory(self, value: str) -> None:
        self._memory = check_memory(value, self.integrator)

    @property
    def steps(self) -> int:
        """Number of integration steps N; change it to evaluate the same θ(t) at another depth."""
        return self._steps

    @steps.setter
    def steps(self, value: int) -> None:
        self._steps = check_int("steps", value)

    @property
    def h(self) -> float:
        """Step size T / N."""
        return self.T / self._steps

    def _check_input(self, y0: torch.Tensor) -> None:
        spatial = self.dynamics.kernel.spatial_dims
        if not isinstance(y0, torch.Tensor) or y0.dim() != 2 + spatial or y0.shape[1] != self.width:
            shape = tuple(y0.shape) if isinstance(y0, torch.Tensor) else type(y0).__name__
            expected = ", ".join(["batch", str(self.width)] + ["L", "H, W"][spatial - 1 : spatial])
            raise ResodeError(f"ODEBlock expects input of shape ({expected}), got {shape}")
        weight = self.dynamics.weight.values
        if y0.dtype != weight.dtype or y0.device != weight.device:
            raise ResodeError(
                f"ODEBlock input is {y0.dtype} on {y0.device} but its weights are {weight.dtype} "
                f"on {weight.device}; convert one with .to()"
            )

    def forward(self, y0: torch.Tensor) -> torch.Tensor:
        self._check_input(y0)
        field = self.dynamics
        plan, grids = field.parameter_plan(self._steps, self.stage_offsets)
        state = solve(self.integrator, field, field.lift(y0), self.h, plan, grids, self._memory)
        return field.project(state)

    def states(self, y0: torch.Tensor) -> Iterator[torch.Tensor]:
        """The states after steps 1, 2, …, N one at a time (for monitoring, with autograd).

        A state is Y_l of shape (batch, width, …); for split dynamics it is [Y_l, Z_l]
        along dim 1 (Z at the half step l − 1/2 with ``verlet``).
        """
        self._check_input(y0)
        field, integrator, h = self.dynamics, self.integrator, self.h
        parameters = field.stage_parameters(self._steps, self.stage_offsets)
        carry = integrator.initial(field, field.lift(y0), h, parameters[0])
        for stage_parameters in parameters:
            carry = integrator.advance(field, carry, h, stage_parameters)
            yield integrator.current(carry)

    def initial_state(self, y0: torch.Tensor) -> torch.Tensor:
        """The ODE's state at t = 0 for the input ``y0`` (Y0, or [Y0, 0] for split dynamics)."""
        self._check_input(y0)
        return self.dynamics.lift(y0)

    def trajectory(self, y0: torch.Tensor) -> torch.Tensor:
        """All states at steps 0 … N, shape (steps + 1, batch, state width, …)."""
        return torch.stack([self.initial_state(y0), *self.states(y0)])

    @property
    def stage_offsets(self) -> tuple[float, ...]:
        return self.integrator.stage_offsets

    def extra_repr(self) -> str:
        return (
            f"width={self.width}, T={self.T:g}, steps={self._steps}, "
            f"dynamics={self.dynamics_name}, integrator={self.integrator.name}"
            + (f", memory={self._memory}" if self._memory != "store" else "")
        )
