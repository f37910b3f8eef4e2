"""``BlockSpec``: one frozen, validated description of an ODE block, used everywhere.

A block is three independent choices and their options:

- **dynamics** — which ODE dY/dt = f(Y, θ(t)) (``activation``, ``gamma``, ``kernel``,
  ``kernel_size``, ``norm``, ``init_std``);
- **integrator** — which discretization, with ``steps`` = N steps of h = T/N on [0, ``T``];
- **weights in time** — θ(t) on ``grid`` = M intervals (default M = N), ``interp``;

plus ``memory``, how backpropagation gets through the steps. :class:`~resode.ODEBlock`,
:class:`~resode.ResNet`, :class:`~resode.ConvResNet`, :class:`~resode.training.TrainConfig`
and the CLI's flags all read this one declaration: a field's default, its help text, its
allowed values and the dynamics it applies to are stated here once. Adding an option to a
dynamics means a field here, its use in the dynamics, and its one ``block_setting`` line in
``TrainConfig`` (placed where its flag and config key belong; a test names it when missing).
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from typing import Any

from ..errors import (
    ResodeError,
    check_choice,
    check_int,
    check_nonnegative,
    check_odd,
    check_positive,
)
from ..integrators import INTEGRATORS, get_integrator, ode_integrators_for
from ..memory import MEMORY_MODES, check_memory
from ..settings import check_settings, setting
from .activations import ACTIVATIONS
from .dynamics import DYNAMICS, Dynamics
from .kernels import KERNELS
from .normalization import NORMALIZATIONS, check_normalization
from .timegrid import INTERPOLATIONS


@dataclass(frozen=True)
class BlockSpec:
    """Everything an ODE block is except its width; validated on construction."""

    dynamics: str = setting("antisymmetric", "right-hand side f", choices=DYNAMICS)
    integrator: str = setting("rk4", "time integrator", choices=INTEGRATORS)
    activation: str = setting("tanh", "activation σ", choices=ACTIVATIONS)
    T: float = setting(1.0, "final time of each unit; step size h = T/steps", check=check_positive)
    steps: int = setting(8, "integration steps N (the depth)", check=check_int)
    grid: int | None = setting(
        None, "number of weight intervals M over [0, T]; none given: M = steps", check=check_int
    )
    interp: str = setting(
        "constant", "weights in time", choices=INTERPOLATIONS, label="interpolation"
    )
    gamma: float = setting(
        0.0,
        "damping γ of antisymmetric dynamics (K − Kᵀ − γI)",
        check=check_nonnegative,
        applies_to=("antisymmetric",),
    )
    init_std: float | None = setting(
        None, "standard deviation of the initial K (default: 1/√fan-in)", check=check_nonnegative
    )
    kernel: str = setting("dense", "operator K: dense (vectors) or a convolution", choices=KERNELS)
    kernel_size: int = setting(
        3, "odd side of the convolution kernels", check=check_odd, label="kernel size"
    )
    norm: str = setting(
        "none", "normalization inside the dynamics", choices=NORMALIZATIONS, label="normalization"
    )
    groups: int | None = setting(
        None,
        "channel groups of norm group (default: the largest divisor of the width up to 8)",
        check=check_int,
    )
    lipschitz: float | None = setting(
        None,
        "make the network L-Lipschitz by construction: non-expansive parabolic Euler steps, "
        "opening and connectors of norm ≤ 1, head of norm ≤ L",
        check=check_positive,
        applies_to=("parabolic",),
    )
    memory: str = setting(
        "store", "what backpropagation keeps", choices=MEMORY_MODES, label="memory mode"
    )

    def __post_init__(self) -> None:
        check_settings(self)
        for item in fields(self):  # numbers as floats, so equal specs compare equal
            if item.type == "float":
                object.__setattr__(self, item.name, float(getattr(self, item.name)))
        check_pairing(self.dynamics, self.integrator)
        check_normalization(self.norm, self.groups)
        check_memory(self.memory, get_integrator(self.integrator))
        check_lipschitz(self)
        for item in fields(self):
            applies_to = item.metadata.get("applies_to")
            value = getattr(self, item.name)
            if applies_to and value != item.default and self.dynamics not in applies_to:
                raise ResodeError(
                    f"{item.name} applies only to {' and '.join(applies_to)} dynamics, "
                    f"not {self.dynamics!r}"
                )

    @property
    def intervals(self) -> int:
        """M, the number of weight intervals: ``grid``, or ``steps`` when not given."""
        return self.steps if self.grid is None else self.grid

    @classmethod
    def of(cls, spec: BlockSpec | None = None, **options: Any) -> BlockSpec:
        """``spec`` (default: the defaults) with ``options`` replaced, e.g.
        ``BlockSpec.of(dynamics="parabolic", steps=16)``; an unknown option is an error."""
        known = {item.name for item in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ResodeError(
                f"unknown block option {', '.join(unknown)}; the options are: "
                f"{', '.join(sorted(known))}"
            )
        if spec is None:
            return cls(**options)
        if not isinstance(spec, cls):
            raise ResodeError(f"spec must be a BlockSpec, got {type(spec).__name__}")
        return replace(spec, **options) if options else spec

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> BlockSpec:
        return cls.of(None, **data)


def block_setting(name: str, default: Any = MISSING, help: str | None = None):
    """A field of another settings class that is :class:`BlockSpec`'s field ``name``: the same
    default, help and checks, unless ``default`` or ``help`` is given."""
    (item,) = [item for item in fields(BlockSpec) if item.name == name]
    metadata = dict(item.metadata) | ({"help": help} if help is not None else {})
    return field(default=item.default if default is MISSING else default, metadata=metadata)


def make_dynamics(name: str, width: int, T: float, intervals: int, **options) -> Dynamics:
    """Build a dynamics by name (standard, antisymmetric, parabolic, hamiltonian, second-order,
    diffusion-reaction) with weights on ``intervals`` intervals of [0, T].

    ``options``: the dynamics' fields of :class:`BlockSpec` — ``interp``, ``activation``,
    ``init_std``, ``kernel`` (dense, conv1d, conv2d), ``kernel_size``, ``norm`` (none, batch,
    group, layer, instance), ``groups`` and, for antisymmetric, ``gamma``.
    """
    spec = BlockSpec.of(dynamics=name, T=T, steps=intervals, **options)
    return DYNAMICS[name](width, spec)


def check_lipschitz(spec: BlockSpec) -> None:
    """The non-expansive construction holds for parabolic dynamics with forward Euler, weights
    constant in time and no normalization: one line naming every setting that breaks it."""
    if spec.lipschitz is None:
        return
    needed = {"dynamics": "parabolic", "integrator": "euler", "interp": "constant", "norm": "none"}
    wrong = [f"{name} {getattr(spec, name)!r}" for name, value in needed.items()
             if getattr(spec, name) != value]  # fmt: skip
    if wrong:
        wanted = ", ".join(f"{name} {value}" for name, value in needed.items())
        raise ResodeError(
            f"lipschitz needs {wanted} (the only provably non-expansive steps); got "
            + ", ".join(wrong)
        )


def check_pairing(dynamics: str, integrator: str) -> None:
    """One-line error where the integrator needs a capability (split, implicit) the dynamics
    lacks; names the dynamics that have it and the integrators that fit."""
    method = get_integrator(integrator)
    cls = DYNAMICS[check_choice("dynamics", dynamics, DYNAMICS)]
    if method.supports(cls):
        return
    need = method.needs.description if method.needs is not None else "first-order"
    having = ", ".join(name for name, c in DYNAMICS.items() if method.supports(c))
    usable = ", ".join(ode_integrators_for(cls))
    raise ResodeError(
        f"integrator {integrator!r} needs {need} dynamics ({having}); "
        f"{dynamics!r} is not {need}: use {usable}"
    )
