# %% [markdown]
# # 8. Why residual, and training as optimal control
#
# **The claims.**
#
# 1. *Plain against residual.* In a plain network Y_{l+1} = σ(K_l Y_l + b_l) the gradient is
#    passed back through the product of the layer maps diag(σ′)K_l: over many layers it
#    vanishes or explodes geometrically, and a deep plain network stops training. A residual
#    step Y + h f(Y) has the map I + h J, close to the identity, so the gradient reaches the
#    first layers. Skip connections also make the loss landscape smoother (Li et al. 2018).
# 2. *Training is optimal control.* The states obey the forward ODE, the gradient comes from an
#    adjoint equation integrated backward. Two ways to compute it: differentiate the
#    discrete network that is actually run (*discretize, then optimize*: `store`,
#    `checkpoint`, `reversible` give this exact gradient), or discretize the continuous
#    adjoint equation (*optimize, then discretize*: `memory="adjoint"`, as in neural-ODE
#    libraries). The second is an approximation of the network's gradient, with an error of
#    the integrator's order, O(h^p).

# %%
import tempfile

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

import resode
from resode.analysis.depth import depth_gradients
from resode.analysis.landscape import plane
from resode.data import load_dataset
from resode.memory import saved_activation_bytes
from resode.runs import load_run
from resode.training import TrainConfig, train

torch.set_num_threads(1)   # the tensors here are tiny: one thread beats handing work around

# %% [markdown]
# ## Gradients through depth, at initialization
#
# Three networks of width 16 on a batch of the `peaks` data, untrained:
#
# - `plain`: Y_{l+1} = tanh(K_l Y_l + b_l), no skip connection;
# - `residual`: Y_{l+1} = Y_l + tanh(K_l Y_l + b_l), h = 1 (the ResNet of He et al., T = N);
# - `ode`: antisymmetric dynamics with RK4 on a fixed [0, 4], h = 4/N.
#
# `depth_gradients` returns ‖∂E/∂Y_l‖ for every state l = 0 … N of the cross-entropy E.

# %%
data = load_dataset("peaks", sizes=(256, 16, 16))
x, target = data.x_train, data.y_train


def network(kind: str, steps: int) -> torch.nn.Module:
    torch.manual_seed(0)
    settings = {
        "plain": dict(dynamics="standard", integrator="plain", T=float(steps)),
        "residual": dict(dynamics="standard", integrator="euler", T=float(steps)),
        "ode": dict(dynamics="antisymmetric", integrator="rk4", T=4.0),
    }[kind]
    return resode.ResNet(2, 16, 5, steps=steps, **settings)


figure, axes = plt.subplots(1, 3, figsize=(15, 4), sharey=True)
for ax, steps in zip(axes, (4, 16, 64)):
    for kind in ("plain", "residual", "ode"):
        (unit,) = depth_gradients(network(kind, steps), x, target, F.cross_entropy)
        ax.semilogy(range(steps + 1), unit.state, "o-", ms=3, label=kind)
        print(f"N = {steps:3d}, {kind:>8}: ‖∂E/∂Y_0‖ / ‖∂E/∂Y_N‖ = {unit.state_ratio:.3g}")
    ax.set_title(f"N = {steps}")
    ax.set_xlabel("state l")
axes[0].set_ylabel("‖∂E/∂Y_l‖ at initialization")
axes[0].legend()
figure.tight_layout()
plt.show()

# %% [markdown]
# The plain network's gradient shrinks by a roughly constant factor per layer: at N = 64 the
# first layers receive almost nothing. The residual network with h = 1 passes the gradient
# back, growing mildly towards the first layers (each step's map is I + J, not close to I);
# the ODE network, whose step h = 4/N shrinks as N grows, keeps it nearly the same at every
# depth.
#
# ## The loss around a trained network
#
# A plain and a residual network at N = 16, trained for 5 epochs on `peaks`, and the test
# loss on a random plane through the trained weights, θ + a d₁ + b d₂, with directions
# normalized filter by filter (Li et al. 2018). `plane` also counts the strict local minima
# on the grid.

# %%
workspace = tempfile.TemporaryDirectory()   # run directories; removed when the notebook ends
planes = {}
for kind in ("plain", "resnet"):
    run_dir = f"{workspace.name}/{kind}"
    config = TrainConfig(data="peaks", network=kind, dynamics="standard", width=16, steps=16,
                         epochs=5, batch_size=128, lr=0.01, smoothness=0.0, device="cpu")
    metrics = train(config, run_dir, progress=False)
    model, dataset = load_run(run_dir)
    planes[kind] = plane(model, dataset, "test", grid=15, span=1.0, hessian_iterations=1)
    planes[kind]["accuracy"] = metrics["test_accuracy"]

figure, axes = plt.subplots(1, 2, figsize=(11, 4.5), layout="constrained")
for ax, (kind, result) in zip(axes, planes.items()):
    values = np.log10(np.array(result["values"]))
    filled = ax.contourf(result["alpha"], result["beta"], values, levels=20, cmap="viridis")
    figure.colorbar(filled, ax=ax, label="log₁₀ test loss")
    ax.plot(0, 0, "r*", ms=12)
    roughness = result["roughness"]
    ax.set_title(f"{kind}, N = 16: test accuracy {result['accuracy']:.3f}\n"
                 f"strict minima on the plane: {roughness['strict_minima']}", fontsize=10)
    ax.set_xlabel("a")
    ax.set_ylabel("b")
plt.show()
for kind, result in planes.items():
    values = np.array(result["values"])
    print(f"{kind:>6}: test accuracy {result['accuracy']:.3f}, "
          f"loss at θ {result['centre_loss']:.3f}, "
          f"loss on the plane from {values.min():.3f} to {values.max():.3f}, "
          f"strict minima {result['roughness']['strict_minima']}")

# %% [markdown]
# ## Adjoint against exact gradients
#
# A block of width 8 with antisymmetric dynamics on [0, 1], its weights θ(t) on 4 intervals
# so that θ(t) stays the same as N grows; float64. We compare the gradient of
# L = Σ sin(Y_N) with respect to the input and all weights computed with `memory="store"`
# (exact for the discrete network) and `memory="adjoint"`.

# %%
def gradient(block: resode.ODEBlock, y0: torch.Tensor, memory: str) -> torch.Tensor:
    block.memory = memory
    block.zero_grad()
    y0 = y0.clone().requires_grad_(True)
    block(y0).sin().sum().backward()
    return torch.cat([y0.grad.flatten()] + [p.grad.flatten() for p in block.parameters()])


y0 = torch.randn(16, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
counts = [8, 16, 32, 64, 128]
errors = {}
for integrator in ("euler", "heun", "rk4"):
    torch.manual_seed(0)
    block = resode.ODEBlock(8, T=1.0, steps=8, dynamics="antisymmetric", integrator=integrator,
                            grid=4, init_std=1.0).double()
    with torch.no_grad():
        block.dynamics.bias.values.normal_(std=0.5)
    errors[integrator] = []
    for steps in counts:
        block.steps = steps
        exact, adjoint = gradient(block, y0, "store"), gradient(block, y0, "adjoint")
        errors[integrator].append(float((adjoint - exact).norm() / exact.norm()))

figure, ax = plt.subplots(figsize=(6.5, 4.2))
for integrator, e in errors.items():
    slope = -np.polyfit(np.log(counts), np.log(e), 1)[0]
    order = resode.get_integrator(integrator).order
    ax.loglog(counts, e, "o-", label=f"{integrator} (order {order}): slope {slope:.2f}")
    print(f"{integrator:>5}: relative gradient error {e[0]:.2e} at N = {counts[0]} → "
          f"{e[-1]:.2e} at N = {counts[-1]}, fitted slope {slope:.2f} (order {order})")
ax.set_xlabel("steps N")
ax.set_ylabel("‖g_adjoint − g_exact‖ / ‖g_exact‖")
ax.set_title("The adjoint gradient converges to the exact one as O(h^p)")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# What the adjoint buys is memory: it keeps only Y_N and rebuilds the states backward.
# `saved_activation_bytes` counts what autograd keeps for the backward pass.

# %%
inputs = torch.randn(256, 64)
for steps in (32, 128):
    row = []
    for memory in ("store", "checkpoint", "adjoint"):
        torch.manual_seed(0)
        block = resode.ODEBlock(64, steps=steps, dynamics="antisymmetric", integrator="rk4",
                                grid=4, memory=memory)
        row.append(f"{memory} {saved_activation_bytes(block, inputs) / 2**20:.2f} MiB")
    print(f"width 64, batch 256, N = {steps:3d}: " + ", ".join(row))

# %% [markdown]
# **Result.** Without skip connections the gradient decays geometrically through depth at
# initialization, and with skips it does not. After the same training the deep plain network
# has hardly learned — it sits on a nearly flat plateau of the loss — while the residual
# network sits in a valley around its trained weights. The adjoint gradient is not the
# gradient of the network that is run: its relative error falls at the fitted slopes printed
# above, at least the integrator's order, and it is large at coarse N — where training with it costs
# accuracy (`resode experiment control` measures that). Its advantage is memory that does not
# grow with N, which `checkpoint` (exact, O(√N)) and, for reversible integrators,
# `reversible` (exact, O(1)) also provide.
