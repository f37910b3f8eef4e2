# %% [markdown]
# # 5. Antisymmetric dynamics: forward Euler fails for every h
#
# **The claim.** Antisymmetric dynamics, f = σ((K − Kᵀ) Y + b), make the *ODE* stable by
# construction: the Jacobian's eigenvalues are purely imaginary (notebook 2), so the ODE
# neither forgets nor amplifies. But forward Euler's region, the disk |1 + z| ≤ 1, touches
# the imaginary axis only at 0: for z = iy its factor is |R(iy)| = √(1 + y²) > 1. So forward
# Euler — the plain ResNet — is unstable for *every* step size h on these dynamics; Heun
# likewise (|R(iy)| = √(1 + y⁴/4)). RK3 and RK4 contain a piece of the imaginary axis
# (|z| ≤ √3 and 2√2), the two-step leapfrog and Störmer–Verlet a segment of it (|z| < 1 and 2).
#
# The claim is easy to measure exactly on the linear ODE y′ = K y with K = W − Wᵀ, whose
# solutions keep their norm: ‖y(t)‖ = ‖y(0)‖.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch

import resode
from resode.analysis import amplification, max_stable_step
from resode.experiments.antisymmetric import norm_history

torch.set_num_threads(1)   # the tensors here are tiny: one thread beats handing work around
generator = torch.Generator().manual_seed(0)
W = torch.randn(8, 8, generator=generator, dtype=torch.float64)
K = W - W.T                                                     # antisymmetric, 8 × 8
y0 = torch.randn(1, 8, generator=generator, dtype=torch.float64)
eigenvalues = torch.linalg.eigvals(K)
rho = float(eigenvalues.abs().max())
print(f"max |Re λ(K)| = {float(eigenvalues.real.abs().max()):.1e}, spectral radius ρ = {rho:.3f}")

# %% [markdown]
# ## 1000 steps at h·ρ(K) = 2
#
# `norm_history` (from the library's `antisymmetric` experiment) integrates y′ = K y with
# any integrator and returns log₁₀ ‖y_l‖/‖y_0‖ after every step, without overflow.

# %%
methods = ("euler", "heun", "rk3", "rk4", "leapfrog")
h = 2.0 / rho
histories = {m: norm_history(m, K, y0, h, 1000) for m in methods}

figure, ax = plt.subplots(figsize=(8, 4.5))
styles = {"euler": dict(lw=4, alpha=0.5), "heun": dict(ls="--")}   # the two coincide here
for m, logs in histories.items():
    factor = amplification(m, h * eigenvalues.numpy()).max()
    ax.plot(logs, label=f"{m}: max |R(hλ)| = {factor:.3f}", **styles.get(m, {}))
ax.axhline(0, color="k", ls="--", lw=0.8, label="exact: ‖y(t)‖ = ‖y(0)‖")
ax.set_xlabel("step l")
ax.set_ylabel("log₁₀ ‖y_l‖ / ‖y_0‖")
ax.set_title("y′ = (W − Wᵀ) y, h·ρ = 2")
ax.legend(fontsize=8)
plt.show()
for m, logs in histories.items():
    print(f"{m:>8}: ‖y_1000‖/‖y_0‖ = 10^{logs[-1]:.3g}")

# %% [markdown]
# ## Every step size
#
# Integrate to the same final time t = 50/ρ with step sizes from h·ρ = 0.05 to 3 and record
# the growth. A method that is stable for a step size keeps the norm (up to a little
# damping); one that is unstable grows.

# %%
h_rho = np.array([0.05, 0.1, 0.2, 0.5, 1.0, 1.5, 2.0, 2.5, 2.8, 3.0])
growth = {m: [] for m in methods}
for value in h_rho:
    steps = int(round(50 / value))
    for m in methods:
        growth[m].append(norm_history(m, K, y0, value / rho, steps)[-1])

figure, ax = plt.subplots(figsize=(8, 4.5))
for m in methods:
    ax.plot(h_rho, growth[m], "o-", label=m)
ax.axhline(0, color="k", lw=0.8)
ax.set_yscale("symlog", linthresh=1e-3)
ax.set_xlabel("h·ρ(K)")
ax.set_ylabel("log₁₀ ‖y(t)‖/‖y(0)‖ at t = 50/ρ")
ax.set_title("Growth over a fixed time, for each step size")
ax.legend(fontsize=8)
plt.show()

print(f"{'method':>8} {'stable for h·ρ ≤ (region)':>26}   measured log₁₀ growth at h·ρ = "
      + ", ".join(f"{v:g}" for v in h_rho[[0, 4, 6, 8]]))
for m in methods:
    bound = max_stable_step(m, eigenvalues) * rho
    measured = ", ".join(f"{growth[m][i]:.2g}" for i in (0, 4, 6, 8))
    print(f"{m:>8} {bound:26.3f}   {measured}")

# %% [markdown]
# Forward Euler and Heun grow at every step size — less at smaller h, never not at all. RK4
# keeps the norm up to h·ρ = 2√2 ≈ 2.83, RK3 up to √3 ≈ 1.73, the leapfrog up to 1.
#
# ## A Hamiltonian network with Störmer–Verlet
#
# The `hamiltonian` dynamics split the state into (Y, Z): Y′ = σ(K Z + b), Z′ = −σ(Kᵀ Y + b).
# Its Jacobian [[0, D₁K], [−D₂Kᵀ, 0]] has imaginary eigenvalues as well, and Störmer–Verlet
# (kick Z, then drift Y) is its natural integrator: explicit, symplectic, reversible. Below
# the same block — K = W for all t, no bias, σ the identity so that the energy is a simple
# quadratic — integrated with forward Euler, RK4 and Verlet, 400 steps of h·ρ(J) = 1.5.

# %%
sigma_max = float(torch.linalg.svdvals(W).max())              # ρ(J) for this block
h = 1.5 / sigma_max
inputs = torch.randn(16, 8, generator=generator, dtype=torch.float64)
norms = {}
for integrator in ("euler", "rk4", "verlet"):
    block = resode.ODEBlock(8, T=400 * h, steps=400, grid=1, dynamics="hamiltonian",
                            integrator=integrator, activation="identity").double()
    with torch.no_grad():
        block.dynamics.weight.values.copy_(W)
        block.dynamics.bias.values.zero_()
        states = block.trajectory(inputs)                     # (401, 16, 16): [Y, Z]
    norms[integrator] = (states.flatten(2).norm(dim=2) / states[0].flatten(1).norm(dim=1)).numpy()

figure, axes = plt.subplots(1, 2, figsize=(13, 4.2))
for integrator, ratio in norms.items():
    axes[0].semilogy(ratio.max(axis=1), label=integrator)
    if integrator != "euler":
        axes[1].plot(ratio.max(axis=1), label=integrator)
axes[0].set_title("hamiltonian, h·ρ(J) = 1.5: largest ‖(Y, Z)_l‖ / ‖(Y, Z)_0‖ of 16 inputs",
                  fontsize=10)
axes[1].set_title("the same without Euler, linear scale", fontsize=10)
for ax in axes:
    ax.set_xlabel("step l")
    ax.legend()
plt.show()
for integrator, ratio in norms.items():
    print(f"{integrator:>7}: after 400 steps ‖state‖ ratio between {ratio[-1].min():.3g} "
          f"and {ratio[-1].max():.3g}; largest on the way {ratio.max():.3g}")

# %% [markdown]
# **Result.** On antisymmetric (and Hamiltonian) dynamics forward Euler is unstable for
# every step size: its growth shrinks with h but never vanishes. RK4 is stable up to
# h·ρ = 2√2 and Störmer–Verlet keeps the state's size bounded — it oscillates a little but
# does not drift — while Euler's grows by many orders of magnitude. RK4 slowly *damps* the
# state at large h; Verlet, being symplectic, does not. Changing the dynamics alone (to
# antisymmetric) is not enough: the discretization has to change with it.
