"""Lipschitz bounds of an ODE unit Y₀ ↦ Y_N, step by step, from the stage parameters the unit
samples at its depth (the pieces of :mod:`~resode.analysis.lipschitz`).

Only difference quotients are used: σ is monotone with slope ≤ s, so σ(u) − σ(v) = D (u − v)
with D diagonal, 0 ≤ D ≤ s; biases cancel. Per stage the field f has L_f = s‖K‖ (standard;
antisymmetric on the operator K − Kᵀ − γI it uses), s‖K‖‖B‖ (parabolic, f = Bᵀσ(KY + b) with
B the transpose-side grid, −K), s‖K‖ + λ_max(L) (diffusion-reaction). A split field on [Y, Z]
(hamiltonian, second-order) is bounded blockwise: the block difference norms
n(Δ) = (‖ΔY‖, ‖ΔZ‖) obey n(Δf) ≤ F n(Δ), F ≥ 0 the matrix of block norms
([[0, s‖K‖], [s‖K‖, 0]]; [[0, 1], [s‖K‖‖B‖, 0]]). Sums and compositions of such inequalities
keep holding (the triangle inequality per block; F ≥ 0 is monotone) and ‖Δ‖ = ‖n(Δ)‖₂, so a
unit is bounded by one product of nonnegative matrices:

- explicit Runge–Kutta (A, b): K_i ≤ F_i (I + h Σ_j |a_ij| K_j), step M ≤ I + h Σ_i |b_i| K_i;
- the two-step leapfrog on (Y_{l−1}, Y_l): M = [[0, I], [I, 2hF]], its Euler start [I + hF; I];
- Störmer–Verlet on (Y, Z): a kick [[1, 0], [a, 1]] (a = hL(f_Z)) then a drift [[1, b], [0, 1]]
  (b = hL(f_Y)), after a half kick; a shear alone has norm (a + √(a² + 4))/2;
- IMEX Euler: ‖(I + hL)⁻¹‖ (1 + hL_g) = (1 + hL_g)/(1 + hλ_min(L)) (L symmetric positive);
- the plain network Y ↦ f(Y): F.

The unit's bound is the Y entry of Π_l M_l · start applied to the lift Y ↦ [1] or [1, 0]
(split dynamics start at Z = 0 and return Y: lift and projection have norm 1); each step's own
bound ‖M_l‖₂ is recorded too. A stage whose weights jump inside its span is the convex
combination Σ_j w_j f_j: its F is Σ_j w_j F_j, at most the larger. Batch normalization in
evaluation mode is a per-channel affine map g·z + shift inside f: s is multiplied by the
largest |g| = |1 + a(t)|/√(σ²(t) + ε) at that stage.

Forward Euler on parabolic dynamics is a convex-potential step (Meunier et al. 2022). Write
B = −cK + E with c = −⟨B, K⟩/⟨K, K⟩ ≥ 0 (plain parabolic: c = 1, E = 0; a non-expansive
network scaling the transpose side per weight node: its c, E = 0 to rounding). Two states
differ after the step Y ↦ Y + h Bᵀσ(KY + b) by

    Y' − Ỹ' = (I − h c KᵀDK) ΔY + h EᵀDK ΔY,   0 ≤ D ≤ s (nonnegative gains included in D).

KᵀDK is symmetric with eigenvalues in [0, s‖K‖²], so I − hcKᵀDK has eigenvalues in
[1 − hcs‖K‖², 1] and norm ≤ max(1, hcs‖K‖² − 1); the step's constant is at most that plus
hs‖E‖‖K‖: ≤ 1 when hcs‖K‖² ≤ 2 and E = 0, and exact for σ = identity. For a blend, c s‖K‖² and
s‖E‖‖K‖ are averaged with the weights w_j (Σ w_j c_j K_jᵀD_jK_j is still symmetric ≥ 0).
Euler on diffusion-reaction: Y ↦ (I − hL)Y + h g(Y), ≤ ‖I − hL‖ + hL_g. The smaller of such
a step's own bound and the general one is used.

Norms are computed as :mod:`~resode.model.kernels` gives them (exact SVD for dense K; the
circular embedding's FFT bound for a convolution on images of the unit's size) and enlarged by
:data:`MARGIN`, as is every unit's result.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..errors import ResodeError
from ..integrators import (
    ExplicitRungeKutta,
    ImexEuler,
    LayerMap,
    StormerVerlet,
    TwoStepLeapfrog,
)
from ..integrators.base import Blend, SplitField, at_stage_time
from ..model.block import ODEBlock
from ..model.dynamics import (
    AntisymmetricDynamics,
    DiffusionReactionDynamics,
    HamiltonianDynamics,
    ParabolicDynamics,
    SecondOrderDynamics,
    StandardDynamics,
)
from ..model.normalization import EPS

MARGIN = 1e-9
"""Relative enlargement of every computed norm (and of the product): SVD rounding is ~n·1e-16."""


@dataclass(frozen=True)
class Factor:
    """One part of the network and the bound of its Lipschitz constant; ``steps``: for an ODE
    unit, the bound of every step's carry map (the unit's value may be below their product)."""

    name: str
    value: float
    how: str
    steps: tuple[float, ...] = ()

    def to_dict(self) -> dict:
        return {"name": self.name, "value": self.value, "how": self.how, "steps": list(self.steps)}


def bounded(value) -> float:
    """``value`` as a float enlarged by the relative :data:`MARGIN`."""
    return float(value) * (1 + MARGIN)


def size_text(spatial: tuple[int, ...]) -> str:
    return "×".join(map(str, spatial))


@dataclass(frozen=True)
class _Part:
    """Bounds of f at one weight set: n(Δf) ≤ ``matrix`` · n(ΔY) (1×1, or 2×2 on [Y, Z])."""

    matrix: np.ndarray
    reaction: float = 0.0
    """Diffusion-reaction: L of the reaction g = σ(N(KY) + b)."""
    diffusion: tuple[float, float] = (0.0, 0.0)
    """Diffusion-reaction: a lower bound of λ_min(L) and an upper bound of λ_max(L)."""
    potential: tuple[float, float] | None = None
    """Parabolic with gains ≥ 0: (c s‖K‖², s‖E‖‖K‖) of B = −cK + E (see the module)."""


@dataclass
class _Stages:
    """The bounds of f at a unit's stage parameters, each weight set's computed once (keyed
    by the sampled tensors' ids, which stay theirs while ``kept`` holds them)."""

    dynamics: object
    spatial: tuple[int, ...]
    parts: dict = field(default_factory=dict)
    norms: dict = field(default_factory=dict)
    kept: list = field(default_factory=list)

    def operator_norm(self, weight: torch.Tensor) -> float:
        """An upper bound of ‖K‖₂ (on images of this unit's size for a convolution)."""
        norms = self.dynamics.kernel.operator_norms(weight.unsqueeze(0), self.spatial)
        return bounded(norms[0])

    def norm(self, weight: torch.Tensor) -> float:
        if id(weight) not in self.norms:
            self.kept.append(weight)
            self.norms[id(weight)] = self.operator_norm(weight)
        return self.norms[id(weight)]

    def part(self, p) -> _Part:
        key = tuple(id(t) for t in p)
        if key not in self.parts:
            self.kept.append(p)
            self.parts[key] = _part(self, p)
        return self.parts[key]

    def mix(self, p, value):
        """Σ_j w_j value(part_j) over the weight sets of a :class:`Blend` (else value(part))."""
        return sum(share * value(self.part(q)) for share, q in _weight_sets(p))


def _weight_sets(p) -> tuple:
    return p.parts if isinstance(p, Blend) else ((1.0, p),)


def _part(stages: _Stages, p) -> _Part:
    dynamics = stages.dynamics
    gain, lowest = _gain(dynamics, p)
    slope = dynamics.activation.slope_bound * gain
    k = stages.norm(p[0])
    if isinstance(dynamics, DiffusionReactionDynamics):
        low, high = _diffusion_range(dynamics, p[2], stages.spatial)
        return _Part(np.array([[slope * k + high]]), slope * k, (low, high))
    if isinstance(dynamics, HamiltonianDynamics):
        return _Part(np.array([[0.0, slope * k], [slope * k, 0.0]]))
    if isinstance(dynamics, SecondOrderDynamics):
        return _Part(np.array([[0.0, 1.0], [slope * k * stages.norm(p[2]), 0.0]]))
    if isinstance(dynamics, ParabolicDynamics):
        potential = _potential(stages, p[0], p[2], slope) if lowest >= 0 else None
        return _Part(np.array([[slope * k * stages.norm(p[2])]]), potential=potential)
    if isinstance(dynamics, (StandardDynamics, AntisymmetricDynamics)):
        return _Part(np.array([[slope * k]]))  # p[0] is the operator f uses (K − Kᵀ − γI)
    raise ResodeError(f"no Lipschitz bound is known for {type(dynamics).__name__}")


def _gain(dynamics, p) -> tuple[float, float]:
    """max |g| and min g of the normalization's per-channel gain g = (1 + a)/√(σ² + ε)
    (batch normalization in evaluation mode); (1, 1) without normalization."""
    normalization = dynamics.normalization
    if normalization.identity:
        return 1.0, 1.0
    first = len(p) - normalization.grid_count
    scale, _, variance = p[first : first + 3]
    gain = (1 + scale) / torch.sqrt(variance + EPS)
    return bounded(gain.abs().max()), float(gain.min())


def _diffusion_range(dynamics, m: torch.Tensor, spatial) -> tuple[float, float]:
    values = dynamics.diffusion.eigenvalues(m, spatial)
    high = bounded(values.max())
    return max(dynamics.diffusion.epsilon, float(values.min()) - MARGIN * high), high


def _potential(stages: _Stages, k: torch.Tensor, b: torch.Tensor, slope: float):
    """(c s‖K‖², s‖E‖‖K‖) for B = −cK + E, c = −⟨B, K⟩/⟨K, K⟩ ≥ 0; None where c < 0."""
    squared = float((k * k).sum())
    c = -float((b * k).sum()) / squared if squared > 0 else -1.0
    if c < 0:
        return None
    residual = b + c * k
    norm_e = stages.operator_norm(residual) if bool(residual.any()) else 0.0
    norm_k = stages.norm(k)
    return c * slope * norm_k**2, slope * norm_e * norm_k


def unit_factor(block: ODEBlock, spatial: tuple[int, ...], name: str) -> Factor:
    """The unit's bound: the Y entry of read · Π_l M_l · start · lift (see the module), the
    carry maps' M_l and its start from the integrator's rule."""
    stages = _Stages(block.dynamics, spatial)
    steps = block.stage_parameters(spatial)
    split = isinstance(block.dynamics, SplitField)
    rule = _rule(block.integrator)
    start, matrices, read, how = rule(stages, steps, block.h, block.integrator, 2 if split else 1)
    product = start @ (np.array([[1.0], [0.0]]) if split else np.ones((1, 1)))
    for matrix in matrices:
        product = matrix @ product
    value = bounded((read @ product)[0, 0])  # the margin also covers this arithmetic
    where = f" on {size_text(spatial)}" if spatial else ""
    h = "" if isinstance(block.integrator, LayerMap) else f" of h = {block.h:g}"
    how = f"{block.dynamics_name}, {block.integrator.name}, {len(steps)} steps{h}{where}: {how}"
    return Factor(name, value, how, tuple(float(np.linalg.norm(m, 2)) for m in matrices))


def _rule(integrator):
    for kind, rule in (
        (ExplicitRungeKutta, _runge_kutta),
        (TwoStepLeapfrog, _leapfrog),
        (StormerVerlet, _verlet),
        (ImexEuler, _imex),
        (LayerMap, _plain),
    ):
        if isinstance(integrator, kind):
            return rule
    raise ResodeError(f"no Lipschitz bound is known for the integrator {integrator.name!r}")


def _runge_kutta(stages: _Stages, steps, h: float, integrator, blocks: int):
    """K_i ≤ F_i (I + h Σ_j |a_ij| K_j), M ≤ I + h Σ_i |b_i| K_i; forward Euler on parabolic
    or diffusion-reaction dynamics: the smaller of that and the step's own bound."""
    tableau, eye = integrator.tableau, np.eye(blocks)
    matrices, special = [], 0
    for parameters in steps:
        slopes: list[np.ndarray] = []
        for row, p in zip(tableau.a, parameters):
            inner = eye + h * sum(abs(a) * slope for a, slope in zip(row, slopes))
            slopes.append(stages.mix(p, lambda part: part.matrix) @ inner)
        matrix = eye + h * sum(abs(b) * slope for b, slope in zip(tableau.b, slopes))
        euler = _euler_step(stages, parameters[0], h) if tableau.stages == 1 else None
        if euler is not None and euler < matrix[0, 0]:
            matrix, special = np.array([[euler]]), special + 1
        matrices.append(matrix)
    how = "Runge–Kutta stage recursion"
    if special:
        kind = (
            "convex-potential step max(1, hcs‖K‖² − 1) + hs‖E‖‖K‖"
            if isinstance(stages.dynamics, ParabolicDynamics)
            else "‖I − hL‖ + h L_g"
        )
        rest = f" on {special} of {len(steps)} steps, else {how}" if special < len(steps) else ""
        how = kind + rest
    return np.eye(blocks), matrices, np.eye(blocks), how


def _euler_step(stages: _Stages, p, h: float) -> float | None:
    """Forward Euler's own bound: max(1, h Σw c s‖K‖² − 1) + h Σw s‖E‖‖K‖ (parabolic, gains
    ≥ 0), Σw (‖I − hL‖ + h L_g) (diffusion-reaction); None for other dynamics."""
    if isinstance(stages.dynamics, DiffusionReactionDynamics):

        def step(part: _Part) -> float:
            low, high = part.diffusion
            return max(abs(1 - h * low), abs(1 - h * high)) + h * part.reaction

        return stages.mix(p, step)
    if not isinstance(stages.dynamics, ParabolicDynamics):
        return None
    potentials = [(w, stages.part(q).potential) for w, q in _weight_sets(p)]
    if any(potential is None for _, potential in potentials):
        return None
    curvature = sum(w * potential[0] for w, potential in potentials)
    skew = sum(w * potential[1] for w, potential in potentials)
    return max(1.0, h * curvature - 1.0) + h * skew


def _leapfrog(stages: _Stages, steps, h: float, integrator, blocks: int):
    """Carry (Y_{l−1}, Y_l) ↦ (Y_l, Y_{l−1} + 2h f(Y_l)): [[0, I], [I, 2hF]]; the Euler start
    Y_{−1} = Y_0 − h f(Y_0): [I + hF; I]; the state read is Y_l."""
    eye, zero = np.eye(blocks), np.zeros((blocks, blocks))
    first = stages.part(at_stage_time(steps[0][0])).matrix
    start = np.vstack([eye + h * first, eye])
    matrices = [
        np.block([[zero, eye], [eye, 2 * h * stages.mix(parameters[0], lambda q: q.matrix)]])
        for parameters in steps
    ]
    return start, matrices, np.hstack([zero, eye]), "two-step carry [[0, I], [I, 2hF]]"


def _verlet(stages: _Stages, steps, h: float, integrator, blocks: int):
    """Carry (Y, Z): a kick Z += h f_Z(Y) ([[1, 0], [a, 1]], a = h L(f_Z)) then a drift
    Y += h f_Y(Z) ([[1, b], [0, 1]], b = h L(f_Y)); the start is a half kick."""

    def momentum(part: _Part) -> float:
        return part.matrix[1, 0]

    def position(part: _Part) -> float:
        return part.matrix[0, 1]

    half = h / 2 * momentum(stages.part(at_stage_time(steps[0][0])))
    matrices = []
    for kick, drift in steps:
        a, b = h * stages.mix(kick, momentum), h * stages.mix(drift, position)
        matrices.append(np.array([[1 + a * b, b], [a, 1.0]]))
    start = np.array([[1.0, 0.0], [half, 1.0]])
    return start, matrices, np.eye(2), "kick and drift shears on (Y, Z)"


def _imex(stages: _Stages, steps, h: float, integrator, blocks: int):
    """(I + hL)⁻¹ (Y + h g(Y)): (1 + h L_g)/(1 + h λ_min(L))."""
    matrices = []
    for (p,) in steps:
        lowest = min(stages.part(q).diffusion[0] for _, q in _weight_sets(p))
        reaction = stages.mix(p, lambda part: part.reaction)
        matrices.append(np.array([[(1 + h * reaction) / (1 + h * lowest)]]))
    return np.eye(1), matrices, np.eye(1), "(1 + h L_g)/(1 + h λ_min(L))"


def _plain(stages: _Stages, steps, h: float, integrator, blocks: int):
    """Y ↦ f(Y): F."""
    matrices = [stages.mix(parameters[0], lambda part: part.matrix) for parameters in steps]
    return np.eye(blocks), matrices, np.eye(blocks), "layer map s‖K‖"
