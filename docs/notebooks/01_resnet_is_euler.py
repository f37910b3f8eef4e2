# %% [markdown]
# # 1. A residual network is forward Euler
#
# **The claim.** A residual layer
#
#     Y_{l+1} = Y_l + h σ(K_l Y_l + b_l)
#
# is one step of forward Euler, with step size h, for the ordinary differential equation
#
#     dY/dt = σ(K(t) Y + b(t)),   Y(0) = Y_0.
#
# A network of N such layers integrates the ODE from t = 0 to T = N·h. Once the weights
# are read as a function of time, θ(t) = (K(t), b(t)), the number of layers is only the
# resolution of that integration: as N grows with T fixed, the network's output converges
# to the ODE's solution Y(T), and for forward Euler the error shrinks like h (first order).
#
# This notebook checks the claim in three steps: resode's block computes exactly the
# residual update; more steps move the trajectories towards a limit; the distance to that
# limit falls like h (and like h⁴ with a fourth-order integrator).

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch

import resode

torch.manual_seed(0)
torch.set_num_threads(1)   # the tensors here are tiny: one thread beats handing work around

# %% [markdown]
# ## One block, written out by hand
#
# A block of width 2, so that states are points in the plane. The dynamics is `standard`,
# f(Y) = tanh(K Y + b), the integrator forward Euler, T = 4 and N = 8 steps: eight residual
# layers with h = 0.5. The weights are stored on a time grid, here one (K_l, b_l) per step.

# %%
block = resode.ODEBlock(2, T=4.0, steps=8, dynamics="standard", integrator="euler")
with torch.no_grad():   # weights that turn the plane: a rotation, a little noise, a small bias
    rotation = torch.tensor([[-0.1, -1.0], [1.0, -0.1]])
    block.dynamics.weight.values.copy_(1.5 * rotation + 0.3 * torch.randn(8, 2, 2))
    block.dynamics.bias.values.normal_(std=0.2)
K = block.dynamics.weight.values.detach()          # shape (8, 2, 2): K_0 … K_7
b = block.dynamics.bias.values.detach()            # shape (8, 2)
print(block)

y0 = 0.8 * torch.randn(6, 2)                       # six starting points, batch first
y = y0.clone()
for l in range(block.steps):                       # the residual network, written out
    y = y + block.h * torch.tanh(y @ K[l].T + b[l])

with torch.no_grad():
    difference = (y - block(y0)).abs().max()
print(f"h = T/N = {block.h}")
print(f"max |hand-written ResNet − ODEBlock| = {float(difference):.2e}")

# %% [markdown]
# The two agree to rounding: the block *is* the residual network. `block.trajectory` returns
# every intermediate state Y_0, …, Y_N.
#
# ## Change N, keep θ(t)
#
# The weights live on their own grid of M = 8 intervals of [0, 4], independent of N. So we
# may set `block.steps` to any N: with N = 16 each weight set is used for two steps of half
# the size, and so on. Below, the states of the six points at several depths, drawn over
# the path of a very fine integration (N = 1024), which stands in for the exact Y(t).

# %%
depths = [2, 4, 8, 32]
block.steps = 1024
with torch.no_grad():
    reference = block.trajectory(y0)                # (1025, 6, 2)

figure, axes = plt.subplots(1, len(depths), figsize=(14, 3.8), sharex=True, sharey=True)
for ax, n in zip(axes, depths):
    block.steps = n
    with torch.no_grad():
        states = block.trajectory(y0)
    for k in range(len(y0)):
        ax.plot(reference[:, k, 0], reference[:, k, 1], color="0.75", lw=2)
        ax.plot(states[:, k, 0], states[:, k, 1], "o-", ms=3, lw=1)
    ax.plot(y0[:, 0], y0[:, 1], "k.", ms=8)
    ax.set_title(f"N = {n}, h = {block.h:g}")
    ax.set_xlabel("Y₁")
axes[0].set_ylabel("Y₂")
figure.suptitle("Forward Euler layers (dots) and the ODE's path (grey); black: Y₀")
figure.tight_layout()
plt.show()

# %% [markdown]
# With N = 2 the layers jump far off the grey paths; by N = 32 they sit on them. The depth is
# a discretization parameter.
#
# ## How fast the network approaches the ODE
#
# The distance between the output at depth N and the fine solution, for forward Euler and
# for classical Runge–Kutta (RK4) on the same θ(t). The integrator is the second of the
# library's three independent choices: swapping it keeps the weights.

# %%
def final_error(integrator: str, steps: list[int]) -> np.ndarray:
    """max over the points of ‖Y_N − Y(T)‖ for the same θ(t), integrated with N steps."""
    twin = resode.ODEBlock(2, block.spec, integrator=integrator)
    twin.load_state_dict(block.state_dict())
    twin.double()                                  # float64, so rounding stays out of the way
    twin.steps = 4096
    with torch.no_grad():
        exact = twin(y0.double())
        errors = []
        for n in steps:
            twin.steps = n
            errors.append(float((twin(y0.double()) - exact).norm(dim=1).max()))
    return np.array(errors)


steps = [8, 16, 32, 64, 128, 256]
errors = {name: final_error(name, steps) for name in ("euler", "rk4")}
orders = {name: -np.polyfit(np.log(steps), np.log(e), 1)[0] for name, e in errors.items()}

figure, ax = plt.subplots(figsize=(6, 4))
for name, e in errors.items():
    ax.loglog(steps, e, "o-", label=f"{name}: measured order {orders[name]:.2f}")
ax.set_xlabel("steps N (h = 4/N)")
ax.set_ylabel("max ‖Y_N − Y(T)‖")
ax.set_title("Distance to the ODE's solution")
ax.legend()
plt.show()

for name in errors:
    print(f"{name}: error falls like h^{orders[name]:.2f}; "
          f"its order is {resode.get_integrator(name).order}")

# %% [markdown]
# **Result.** The residual network is forward Euler (the hand-written layers and the block
# agree to rounding); changing N with the weights fixed gives a sequence of networks that
# converge to one ODE, at the integrator's order: the fitted slope is close to 1 for Euler
# and close to 4 for RK4. The next notebooks ask when
# this ODE, and its discretization, are *stable*.
